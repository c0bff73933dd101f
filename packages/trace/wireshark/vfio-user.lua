-- Wireshark dissector for vfio-user captures written by @vfu/trace (vfu-server --trace-file,
-- vfu-client --trace-file): link type LINKTYPE_USER0 (147), one 8-byte record header, then one
-- whole vfio-user message (QEMU docs/interop/vfio-user.rst). Load with
--   tshark -X lua_script:vfio-user.lua -r FILE.pcapng
-- or copy to ~/.local/lib/wireshark/plugins/.

local p = Proto("vfio_user", "vfio-user")

local COMMANDS = {
  [1] = "VERSION", [2] = "DMA_MAP", [3] = "DMA_UNMAP", [4] = "DEVICE_GET_INFO",
  [5] = "DEVICE_GET_REGION_INFO", [6] = "DEVICE_GET_REGION_IO_FDS", [7] = "DEVICE_GET_IRQ_INFO",
  [8] = "DEVICE_SET_IRQS", [9] = "REGION_READ", [10] = "REGION_WRITE", [11] = "DMA_READ",
  [12] = "DMA_WRITE", [13] = "DEVICE_RESET", [15] = "REGION_WRITE_MULTI", [16] = "DEVICE_FEATURE",
  [17] = "MIG_DATA_READ", [18] = "MIG_DATA_WRITE",
}
local DIRECTIONS = { [0] = "client to server", [1] = "server to client" }
local TYPES = { [0] = "command", [1] = "reply" }
local FEATURES = {
  [1] = "MIGRATION", [2] = "MIG_DEVICE_STATE", [6] = "DMA_LOGGING_START", [7] = "DMA_LOGGING_STOP",
  [8] = "DMA_LOGGING_REPORT",
}

local f = {
  rec_dir = ProtoField.uint8("vfio_user.rec.direction", "Direction", base.DEC, DIRECTIONS),
  rec_fds = ProtoField.uint16("vfio_user.rec.fds", "File descriptors passed", base.DEC),
  rec_conn = ProtoField.uint32("vfio_user.rec.connection", "Connection", base.DEC),
  msg_id = ProtoField.uint16("vfio_user.msg_id", "Message ID", base.HEX),
  cmd = ProtoField.uint16("vfio_user.cmd", "Command", base.DEC, COMMANDS),
  msg_size = ProtoField.uint32("vfio_user.msg_size", "Message size", base.DEC),
  flags = ProtoField.uint32("vfio_user.flags", "Flags", base.HEX),
  type = ProtoField.uint32("vfio_user.type", "Type", base.DEC, TYPES, 0x0f),
  no_reply = ProtoField.bool("vfio_user.no_reply", "No_reply", 32, nil, 0x10),
  error = ProtoField.bool("vfio_user.error", "Error", 32, nil, 0x20),
  errno = ProtoField.uint32("vfio_user.errno", "Error number", base.DEC),
  argsz = ProtoField.uint32("vfio_user.argsz", "argsz", base.DEC),
  pflags = ProtoField.uint32("vfio_user.payload_flags", "Payload flags", base.HEX),
  major = ProtoField.uint16("vfio_user.version.major", "Major", base.DEC),
  minor = ProtoField.uint16("vfio_user.version.minor", "Minor", base.DEC),
  json = ProtoField.string("vfio_user.version.json", "Version data (JSON)"),
  index = ProtoField.uint32("vfio_user.index", "Index (region or IRQ)", base.DEC),
  offset = ProtoField.uint64("vfio_user.offset", "Offset", base.HEX),
  addr = ProtoField.uint64("vfio_user.addr", "DMA address", base.HEX),
  size = ProtoField.uint64("vfio_user.size", "Size", base.HEX),
  count = ProtoField.uint64("vfio_user.count", "Count", base.DEC),
  start = ProtoField.uint32("vfio_user.start", "Start", base.DEC),
  cap_offset = ProtoField.uint32("vfio_user.cap_offset", "Capability offset", base.DEC),
  num_regions = ProtoField.uint32("vfio_user.num_regions", "Regions", base.DEC),
  num_irqs = ProtoField.uint32("vfio_user.num_irqs", "IRQ indices", base.DEC),
  feature = ProtoField.uint32("vfio_user.feature.index", "Feature", base.DEC, FEATURES, 0xffff),
  feature_get = ProtoField.bool("vfio_user.feature.get", "GET", 32, nil, 0x10000),
  feature_set = ProtoField.bool("vfio_user.feature.set", "SET", 32, nil, 0x20000),
  feature_probe = ProtoField.bool("vfio_user.feature.probe", "PROBE", 32, nil, 0x40000),
  feature_subtype = ProtoField.string("vfio_user.feature.subtype", "Feature subtype"),
  wr_cnt = ProtoField.uint64("vfio_user.wr_cnt", "Writes", base.DEC),
  data = ProtoField.bytes("vfio_user.data", "Data"),
}
p.fields = f

-- Fixed-layout payloads: for each command, the request and reply fields as (field, offset, size).
local function argsz_flags(t) return { { f.argsz, 0, 4 }, { f.pflags, 4, 4 }, table.unpack(t or {}) } end
local ACCESS = { { f.offset, 0, 8 }, { f.index, 8, 4 }, { f.count, 12, 4 } }
local DMA_ACCESS = { { f.addr, 0, 8 }, { f.count, 8, 8 } }
local LAYOUT = {
  [2] = { argsz_flags({ { f.offset, 8, 8 }, { f.addr, 16, 8 }, { f.size, 24, 8 } }), {} },
  [3] = { argsz_flags({ { f.addr, 8, 8 }, { f.size, 16, 8 } }), argsz_flags({ { f.addr, 8, 8 }, { f.size, 16, 8 } }) },
  [4] = { argsz_flags(), argsz_flags({ { f.num_regions, 8, 4 }, { f.num_irqs, 12, 4 } }) },
  [5] = {
    argsz_flags({ { f.index, 8, 4 } }),
    argsz_flags({ { f.index, 8, 4 }, { f.cap_offset, 12, 4 }, { f.size, 16, 8 }, { f.offset, 24, 8 } }),
  },
  [6] = { argsz_flags({ { f.index, 8, 4 } }), argsz_flags({ { f.index, 8, 4 }, { f.count, 12, 4 } }) },
  [7] = { argsz_flags({ { f.index, 8, 4 } }), argsz_flags({ { f.index, 8, 4 }, { f.count, 12, 4 } }) },
  [8] = { argsz_flags({ { f.index, 8, 4 }, { f.start, 12, 4 }, { f.count, 16, 4 } }), {} },
  [9] = { ACCESS, ACCESS },
  [10] = { ACCESS, ACCESS },
  [11] = { DMA_ACCESS, DMA_ACCESS },
  [12] = { DMA_ACCESS, DMA_ACCESS },
  [15] = { { { f.wr_cnt, 0, 8 } }, { { f.wr_cnt, 0, 8 } } },
  [17] = { { { f.argsz, 0, 4 }, { f.size, 4, 4 } }, { { f.argsz, 0, 4 }, { f.size, 4, 4 } } },
  [18] = { { { f.argsz, 0, 4 }, { f.size, 4, 4 } }, {} },
}
-- Where data follows the fixed part, by command and type (0 command, 1 reply).
local DATA_AT = { [9] = { nil, 16 }, [10] = { 16, nil }, [11] = { nil, 16 }, [12] = { 16, nil }, [17] = { nil, 8 }, [18] = { 8, nil } }

local function add_le(tree, field, buf, at, size)
  if buf:len() < at + size then return end
  tree:add_le(field, buf(at, size))
end

function p.dissector(tvb, pinfo, root)
  if tvb:len() < 8 + 16 then return 0 end
  pinfo.cols.protocol = "vfio-user"
  local tree = root:add(p, tvb())
  local rec = tree:add(p, tvb(0, 8), "Capture record")
  rec:add(f.rec_dir, tvb(1, 1))
  rec:add_le(f.rec_fds, tvb(2, 2))
  rec:add_le(f.rec_conn, tvb(4, 4))
  local m = tvb(8):tvb()
  local cmd = m(2, 2):le_uint()
  local flags = m(8, 4):le_uint()
  local typ = bit.band(flags, 0x0f)
  local hdr = tree:add(p, m(0, 16), "Header")
  hdr:add_le(f.msg_id, m(0, 2))
  hdr:add_le(f.cmd, m(2, 2))
  hdr:add_le(f.msg_size, m(4, 4))
  local fl = hdr:add_le(f.flags, m(8, 4))
  fl:add_le(f.type, m(8, 4))
  fl:add_le(f.no_reply, m(8, 4))
  fl:add_le(f.error, m(8, 4))
  hdr:add_le(f.errno, m(12, 4))
  local name = COMMANDS[cmd] or ("UNKNOWN(" .. cmd .. ")")
  local info = name .. " " .. (TYPES[typ] or ("type " .. typ)) .. " #" .. string.format("0x%x", m(0, 2):le_uint())
  if bit.band(flags, 0x20) ~= 0 then info = info .. " ERROR " .. m(12, 4):le_uint() end
  pinfo.cols.info = info
  if m:len() <= 16 or bit.band(flags, 0x20) ~= 0 or typ > 1 then return tvb:len() end
  local pay = m(16):tvb()
  local body = tree:add(p, pay(), name .. " payload")
  if cmd == 1 then
    add_le(body, f.major, pay, 0, 2)
    add_le(body, f.minor, pay, 2, 2)
    if pay:len() > 4 then body:add(f.json, pay(4, pay:len() - 4)) end
  elseif cmd == 16 then
    add_le(body, f.argsz, pay, 0, 4)
    if pay:len() >= 8 then
      body:add_le(f.feature, pay(4, 4))
      body:add_le(f.feature_get, pay(4, 4))
      body:add_le(f.feature_set, pay(4, 4))
      body:add_le(f.feature_probe, pay(4, 4))
      local ff = pay(4, 4):le_uint()
      local ops = {}
      if bit.band(ff, 0x10000) ~= 0 then ops[#ops + 1] = "GET" end
      if bit.band(ff, 0x20000) ~= 0 then ops[#ops + 1] = "SET" end
      if bit.band(ff, 0x40000) ~= 0 then ops[#ops + 1] = "PROBE" end
      local feature = FEATURES[bit.band(ff, 0xffff)] or ("feature " .. bit.band(ff, 0xffff))
      body:add(f.feature_subtype, pay(4, 4), feature .. " " .. table.concat(ops, "|"))
      if pay:len() > 8 then body:add(f.data, pay(8, pay:len() - 8)) end
    end
  else
    local layout = LAYOUT[cmd]
    if layout ~= nil then
      for _, item in ipairs(layout[typ + 1]) do add_le(body, item[1], pay, item[2], item[3]) end
    end
    local at = DATA_AT[cmd] and DATA_AT[cmd][typ + 1]
    if at ~= nil and pay:len() > at then body:add(f.data, pay(at, pay:len() - at)) end
  end
  return tvb:len()
end

DissectorTable.get("wtap_encap"):add(wtap_encaps.USER0, p)
