-- wrk script: POST one file, as a raw image body or as multipart/form-data, and print the
-- latency percentiles and status counts as one JSON line. Bounded: stops after MAX_REQUESTS.
-- Environment: BODY_FILE, MODE (raw|multipart), CONTENT_TYPE, MAX_REQUESTS (per wrk thread).
local body_file = os.getenv("BODY_FILE")
local mode = os.getenv("MODE") or "raw"
local ctype = os.getenv("CONTENT_TYPE") or "image/png"
local max_requests = tonumber(os.getenv("MAX_REQUESTS") or "1000000")

local f = assert(io.open(body_file, "rb"))
local data = f:read("*a")
f:close()

wrk.method = "POST"
if mode == "multipart" then
  local boundary = "----wrkbench7d1a"
  wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
  wrk.body = "--" .. boundary .. "\r\n"
    .. "Content-Disposition: form-data; name=\"file\"; filename=\"bench.bin\"\r\n"
    .. "Content-Type: " .. ctype .. "\r\n\r\n" .. data .. "\r\n--" .. boundary .. "--\r\n"
else
  wrk.headers["Content-Type"] = ctype
  wrk.headers["X-Filename"] = "bench.bin"
  wrk.body = data
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  non2xx = 0
end

function response(status, headers, body)
  sent = sent + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
  if sent >= max_requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non2xx": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "timeouts": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, bad, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max))
end
