"""The HTTP doors: each module translates its transport and hands the core pictures or tensors."""
