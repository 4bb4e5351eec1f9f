"""The prediction core: the model card, the ONNX session, decoding and framing pictures, the
batcher, and the use case every door shares (`Predictor`)."""
