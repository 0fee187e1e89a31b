-- wrk script for the benchmarks: one kind of request, responses counted by status, one JSON line out.
--
--   wrk ... -s bench/count.lua URL -- get  /posts/1
--   wrk ... -s bench/count.lua URL -- post /posts '{"title":"x"}'
--   wrk ... -s bench/count.lua URL -- patch /posts/ 1000 '{"title":"y"}'   (PATCH /posts/{random 1..1000})
--
-- Only 2xx responses are counted as served: `done` prints them apart from every other status,
-- so a server that answers fast with errors cannot look fast.

local threads = {}

function setup(thread)
  thread:set("index", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1]
  path = args[2]
  ok = 0
  bad = 0
  math.randomseed(1234 + index)
  if mode == "get" then
    req = wrk.format("GET", path)
  elseif mode == "post" then
    req = wrk.format("POST", path, { ["Content-Type"] = "application/json" }, args[3])
  elseif mode == "patch" then
    top = tonumber(args[3])
    patch_body = args[4]
  end
end

function request()
  if mode == "patch" then
    return wrk.format("PATCH", path .. math.random(1, top), { ["Content-Type"] = "application/json" }, patch_body)
  end
  return req
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local served, failed = 0, 0
  for _, thread in ipairs(threads) do
    served = served + thread:get("ok")
    failed = failed + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "ok": %d, "non2xx": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, served, failed, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
