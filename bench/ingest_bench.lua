-- wrk script for scripts/bench-ingest: POSTs pre-signed Telnyx deliveries.
--   wrk ... -s bench/ingest_bench.lua URL -- FILE THREADS
-- FILE lines are "<timestamp>\t<signature>\t<body>" (ingest_bench gen). Thread k of THREADS
-- takes lines k, k+THREADS, ... so no two threads send the same data.id; a thread that runs
-- out starts its slice again (those repeats are duplicates, and the service counts them).
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local requests = {}
local next_index = 0

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == tid then
      local ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", "/api/webhooks/telnyx/call-events", {
        ["Content-Type"] = "application/json",
        ["telnyx-timestamp"] = ts,
        ["telnyx-signature-ed25519"] = sig,
      }, body)
    end
    i = i + 1
  end
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
