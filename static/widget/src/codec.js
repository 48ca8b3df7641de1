// ---- msgpack: the subset the protocol uses (maps, arrays, strings, numbers, booleans, nil)

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

function mpEncode(value) {
  let buf = new Uint8Array(256);
  let view = new DataView(buf.buffer);
  let pos = 0;
  const room = (n) => {
    if (pos + n <= buf.length) return;
    const bigger = new Uint8Array(Math.max(buf.length * 2, pos + n));
    bigger.set(buf);
    buf = bigger;
    view = new DataView(buf.buffer);
  };
  const u8 = (b) => { room(1); buf[pos++] = b; };
  const u16 = (v) => { room(2); view.setUint16(pos, v); pos += 2; };
  const u32 = (v) => { room(4); view.setUint32(pos, v); pos += 4; };
  const head = (n, fix, fixMax, b8, b16, b32) => {
    if (n <= fixMax) u8(fix | n);
    else if (b8 != null && n < 0x100) { u8(b8); u8(n); }
    else if (n < 0x10000) { u8(b16); u16(n); }
    else { u8(b32); u32(n); }
  };
  const int = (v) => {
    if (v >= 0) {
      if (v < 0x80) u8(v);
      else if (v < 0x100) { u8(0xcc); u8(v); }
      else if (v < 0x10000) { u8(0xcd); u16(v); }
      else if (v < 0x100000000) { u8(0xce); u32(v); }
      else { u8(0xcf); u32(Math.floor(v / 0x100000000)); u32(v >>> 0); }
    } else if (v >= -0x20) u8(v & 0xff);
    else if (v >= -0x80) { u8(0xd0); room(1); view.setInt8(pos, v); pos += 1; }
    else if (v >= -0x8000) { u8(0xd1); room(2); view.setInt16(pos, v); pos += 2; }
    else if (v >= -0x80000000) { u8(0xd2); room(4); view.setInt32(pos, v); pos += 4; }
    else { u8(0xd3); room(8); view.setInt32(pos, Math.floor(v / 0x100000000)); view.setUint32(pos + 4, v >>> 0); pos += 8; }
  };
  const write = (v, depth) => {
    if (depth > 64) throw new Error('too deep');
    if (v == null) u8(0xc0);
    else if (v === false) u8(0xc2);
    else if (v === true) u8(0xc3);
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) u8(0xc0);  // NaN and infinities: nil, as JSON.stringify does
      else if (Number.isSafeInteger(v)) int(v);
      else { u8(0xcb); room(8); view.setFloat64(pos, v); pos += 8; }
    } else if (typeof v === 'string') {
      const bytes = utf8.encode(v);
      head(bytes.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
      room(bytes.length); buf.set(bytes, pos); pos += bytes.length;
    } else if (Array.isArray(v)) {
      head(v.length, 0x90, 15, null, 0xdc, 0xdd);
      for (const x of v) write(x, depth + 1);
    } else if (typeof v === 'object') {
      const keys = Object.keys(v).filter((k) => v[k] !== undefined);
      head(keys.length, 0x80, 15, null, 0xde, 0xdf);
      for (const k of keys) { write(k, depth + 1); write(v[k], depth + 1); }
    } else {
      throw new Error('cannot encode ' + typeof v);
    }
  };
  write(value, 0);
  return buf.slice(0, pos);
}

function mpDecode(data) {
  const buf = data instanceof Uint8Array ? data : new Uint8Array(data);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const need = (n) => { if (pos + n > buf.length) throw new Error('truncated msgpack'); };
  const str = (n) => { need(n); const s = utf8d.decode(buf.subarray(pos, pos + n)); pos += n; return s; };
  const bin = (n) => { need(n); const b = buf.slice(pos, pos + n); pos += n; return b; };
  const arr = (n, depth) => { const a = new Array(n); for (let i = 0; i < n; i++) a[i] = read(depth + 1); return a; };
  const map = (n, depth) => {
    const o = {};
    for (let i = 0; i < n; i++) {
      const k = read(depth + 1);
      const v = read(depth + 1);
      if (k === '__proto__') continue;
      o[k] = v;
    }
    return o;
  };
  const get = (n, fn) => { need(n); const v = fn(pos); pos += n; return v; };
  const read = (depth) => {
    if (depth > 100) throw new Error('msgpack nested too deeply');
    need(1);
    const b = buf[pos++];
    if (b < 0x80) return b;
    if (b < 0x90) return map(b & 0x0f, depth);
    if (b < 0xa0) return arr(b & 0x0f, depth);
    if (b < 0xc0) return str(b & 0x1f);
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(get(1, (p) => view.getUint8(p)));
      case 0xc5: return bin(get(2, (p) => view.getUint16(p)));
      case 0xc6: return bin(get(4, (p) => view.getUint32(p)));
      case 0xca: return get(4, (p) => view.getFloat32(p));
      case 0xcb: return get(8, (p) => view.getFloat64(p));
      case 0xcc: return get(1, (p) => view.getUint8(p));
      case 0xcd: return get(2, (p) => view.getUint16(p));
      case 0xce: return get(4, (p) => view.getUint32(p));
      case 0xcf: return get(8, (p) => view.getUint32(p) * 0x100000000 + view.getUint32(p + 4));
      case 0xd0: return get(1, (p) => view.getInt8(p));
      case 0xd1: return get(2, (p) => view.getInt16(p));
      case 0xd2: return get(4, (p) => view.getInt32(p));
      case 0xd3: return get(8, (p) => view.getInt32(p) * 0x100000000 + view.getUint32(p + 4));
      case 0xd9: return str(get(1, (p) => view.getUint8(p)));
      case 0xda: return str(get(2, (p) => view.getUint16(p)));
      case 0xdb: return str(get(4, (p) => view.getUint32(p)));
      case 0xdc: return arr(get(2, (p) => view.getUint16(p)), depth);
      case 0xdd: return arr(get(4, (p) => view.getUint32(p)), depth);
      case 0xde: return map(get(2, (p) => view.getUint16(p)), depth);
      case 0xdf: return map(get(4, (p) => view.getUint32(p)), depth);
      default: throw new Error('unsupported msgpack type 0x' + b.toString(16));
    }
  };
  const value = read(0);
  if (pos !== buf.length) throw new Error('extra bytes after msgpack value');
  return value;
}
