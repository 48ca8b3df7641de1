/* ChatCobrowseSanitizer: what a visitor's page may make the agent's browser fetch
 * (co-browsing, docs/security.md "Co-browse replay").
 *
 * rrweb replays the visitor's page in an about:blank iframe that is same-origin with the
 * console, so its base URL is the console's: a relative URL in the replayed page, or an
 * absolute one to the console's host, is fetched from this server with the agent's cookie
 * (an `<img src="/api/conversations/c_1">` is a `view` in the audit log, as the agent).
 * rrweb's recorder makes URLs absolute, but the events come from the visitor's browser and
 * can say anything; rrweb's Replayer applies attributes and CSS as they come. So every
 * event goes through here first, and every URL in it (attributes, srcset lists, inline and
 * sheet CSS, SVG animations of href) is resolved against the visitor's page (the Meta
 * event's href) and rewritten to that absolute URL, or dropped when:
 *   - it cannot be resolved (relative, and no http(s) page URL to resolve it against);
 *   - its scheme is not http(s) (data: only where it is an image or media source);
 *   - its host is the console's own host (cookies go by host, whatever the scheme or
 *     port), unless the visitor's page is itself on this host (the demo shop) and the URL
 *     is under /static/;
 *   - it is in a frame, object, embed, script or base element (none loads from any URL).
 * Attributes that fetch without a URL of their own (`srcdoc`, `http-equiv` refresh, SVG
 * `<animate attributeName="href">`) are dropped, as are canvas and font events (the
 * widget records neither). Sanitizing is idempotent: the console may replay kept events. */
(function () {
  'use strict';

  // rrweb's event and node types (@rrweb/types)
  const META = 4;
  const FULL_SNAPSHOT = 2;
  const INCREMENTAL = 3;
  const DROPPED_TYPES = new Set([6, 7]);  // Plugin, Asset: nothing in the viewer uses them
  const MUTATION = 0;
  const STYLE_SHEET_RULE = 8;
  const CANVAS_MUTATION = 9;
  const FONT = 10;
  const STYLE_DECLARATION = 13;
  const ADOPTED_STYLE_SHEET = 15;
  const ELEMENT = 2;
  const TEXT = 3;

  /** Attributes holding one URL. */
  const URL_ATTRS = new Set(['src', 'href', 'xlink:href', 'action', 'formaction', 'poster', 'background',
    'data', 'codebase', 'cite', 'longdesc', 'lowsrc', 'dynsrc', 'manifest', 'icon', 'profile', 'classid']);
  /** Attributes holding several: image candidates, or whitespace-separated URLs. */
  const SRCSET_ATTRS = new Set(['srcset', 'imagesrcset']);
  const LIST_ATTRS = new Set(['ping', 'attributionsrc', 'archive']);
  /** Attributes read as CSS: inline style, rrweb's inlined stylesheet, SVG presentation. */
  const CSS_ATTRS = new Set(['style', '_csstext', 'fill', 'stroke', 'filter', 'mask', 'clip-path', 'marker',
    'marker-start', 'marker-mid', 'marker-end', 'cursor']);
  /** Fetch or navigate with no URL of ours to check: never replayed. */
  const DROP_ATTRS = new Set(['srcdoc', 'http-equiv', 'xml:base']);
  /** Elements whose URLs are never replayed: documents and scripts load nothing from any
   *  URL (rrweb's recorder sends no iframe src, it keeps it as rr_src, and no scripts), and
   *  a <base> would only move where relative URLs go (the console's CSP refuses it too). */
  const NO_URLS = new Set(['iframe', 'frame', 'object', 'embed', 'portal', 'fencedframe', 'script', 'base']);
  /** `href="#id"` points into the replayed document itself, except where href is fetched. */
  const LOCAL_REFS = new Set(['href', 'xlink:href']);
  const FETCHES_HREF = new Set(['link', 'image', 'feimage']);
  /** Where a data: URL may stay (an image or media source, never a document or a sheet). */
  const DATA_OK = new Set(['img', 'image', 'input', 'video', 'audio', 'source', 'track', 'feimage', 'picture']);
  /** CSS functions whose string arguments are URLs; `url` is also a token of its own. */
  const URL_FUNCTIONS = new Set(['url', 'src', 'image', 'image-set', '-webkit-image-set']);
  /** Inside those, a value computed elsewhere cannot be checked: the function is dropped. */
  const UNCHECKABLE = new Set(['var', 'env', 'attr']);
  const BLOCKED_URL = 'url("")';  // no request (CSS: an empty url() is an invalid image)

  // ---- URLs ---------------------------------------------------------------------------

  function hostOf(url) {
    return url.hostname.replace(/\.$/, '').toLowerCase();
  }

  /** The decoded path is under /static/ with no dot segments (the server decodes %2F too). */
  function isStaticPath(url) {
    let path;
    try { path = decodeURIComponent(url.pathname); } catch (e) { return false; }
    return path.startsWith('/static/') && !path.includes('\\') && !/(^|\/)\.\.?(\/|$)/.test(path);
  }

  class Sanitizer {
    /** @param {string} ownHost the host whose cookies the viewer holds (location.hostname) */
    constructor(ownHost) {
      this.own = String(ownHost || location.hostname).replace(/\.$/, '').toLowerCase();
      this.reset(null);
    }

    /** A new recording starts (rrweb Meta): its page URL is the base of relative URLs. */
    reset(href) {
      this.base = null;
      try {
        const url = new URL(String(href));
        if (url.protocol === 'http:' || url.protocol === 'https:') this.base = url;
      } catch (e) { /* no base: relative URLs are dropped */ }
      this.baseIsOwn = !!this.base && hostOf(this.base) === this.own;
      this.tags = new Map();  // node id -> tag name (lower case)
      this.styleText = new Map();  // text node id -> whether it is inside a <style>
    }

    /** The absolute URL to use instead of `raw` in a `tag` element, or null to drop it.
     *  With `local`, a fragment alone (`#icon`: this document, nothing fetched) stays. */
    url(raw, tag, local) {
      if (NO_URLS.has(tag)) return null;
      const text = String(raw).trim();
      if (!text) return null;
      if (local && text[0] === '#') return text;
      let url;
      try { url = new URL(text, this.base || undefined); } catch (e) { return null; }
      if (url.protocol === 'data:') return DATA_OK.has(tag) ? url.href : null;
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
      if (hostOf(url) === this.own && (!this.baseIsOwn || !isStaticPath(url))) return null;
      return url.href;
    }

    // ---- events -----------------------------------------------------------------------

    /** The event to replay (changed in place), or null when it must not be replayed. */
    event(e) {
      if (!e || typeof e !== 'object') return null;
      if (DROPPED_TYPES.has(e.type)) return null;
      const d = e.data;
      if (!d || typeof d !== 'object') return e;
      if (e.type === META) this.reset(d.href);
      else if (e.type === FULL_SNAPSHOT) this.node(d.node, '');
      else if (e.type === INCREMENTAL) return this.incremental(d) ? e : null;
      return e;
    }

    incremental(d) {
      switch (d.source) {
        case MUTATION:
          for (const add of list(d.adds)) if (add) this.node(add.node, this.tags.get(add.parentId) || '');
          for (const change of list(d.attributes)) {
            if (change && change.attributes && typeof change.attributes === 'object') {
              this.attributes(this.tags.get(change.id), change.attributes);
            }
          }
          for (const t of list(d.texts)) {
            // a text node not known to be outside a <style> is read as CSS
            if (t && typeof t.value === 'string' && this.styleText.get(t.id) !== false) t.value = this.css(t.value);
          }
          return true;
        case STYLE_SHEET_RULE:
          for (const add of list(d.adds)) if (add && typeof add.rule === 'string') add.rule = this.css(add.rule);
          if (typeof d.replace === 'string') d.replace = this.css(d.replace);
          if (typeof d.replaceSync === 'string') d.replaceSync = this.css(d.replaceSync);
          return true;
        case STYLE_DECLARATION:
          if (d.set && typeof d.set.value === 'string') d.set.value = this.css(d.set.value);
          return true;
        case ADOPTED_STYLE_SHEET:
          for (const sheet of list(d.styles)) {
            for (const r of list(sheet && sheet.rules)) if (r && typeof r.rule === 'string') r.rule = this.css(r.rule);
          }
          return true;
        case CANVAS_MUTATION:
        case FONT:
          return false;
        default:
          return true;
      }
    }

    /** A serialized node and its subtree (a snapshot, or a node a mutation adds). */
    node(n, parentTag) {
      if (!n || typeof n !== 'object') return;
      if (n.type === TEXT) {
        const inStyle = parentTag === 'style' || !!n.isStyle;
        this.styleText.set(n.id, inStyle);
        if (inStyle && typeof n.textContent === 'string') n.textContent = this.css(n.textContent);
        return;
      }
      let tag = parentTag;
      if (n.type === ELEMENT) {
        tag = String(n.tagName || '').toLowerCase();
        this.tags.set(n.id, tag);
        if (n.attributes && typeof n.attributes === 'object') {
          this.attributes(tag, n.attributes);
          for (const k of Object.keys(n.attributes)) if (n.attributes[k] === null) delete n.attributes[k];
        }
      }
      for (const child of list(n.childNodes)) this.node(child, tag);
    }

    /** Rewrite attributes in place; null removes one (rrweb: removeAttribute). An element
     *  not known here (tag undefined) gets the strictest treatment: no URL at all. */
    attributes(tag, attrs) {
      for (const key of Object.keys(attrs)) {
        const value = attrs[key];
        if (value === null || value === undefined || value === false) continue;
        const name = key.toLowerCase();
        if (DROP_ATTRS.has(name)) attrs[key] = null;
        else if (name === 'attributename') attrs[key] = /href|src/i.test(String(value)) ? null : value;
        else if (URL_ATTRS.has(name)) attrs[key] = tag === undefined ? null : this.url(value, tag, LOCAL_REFS.has(name) && !FETCHES_HREF.has(tag));
        else if (SRCSET_ATTRS.has(name)) attrs[key] = tag === undefined ? null : this.srcset(String(value), tag);
        else if (LIST_ATTRS.has(name)) attrs[key] = tag === undefined ? null : this.urlList(String(value), tag);
        else if (name === 'rr_dataurl') attrs[key] = /^data:/i.test(String(value)) ? value : null;
        else if (name === 'style' && typeof value === 'object') this.styleObject(value);
        else if (CSS_ATTRS.has(name)) attrs[key] = this.css(String(value));
      }
    }

    /** rrweb's style mutation: {property: value | [value, priority] | false}. */
    styleObject(style) {
      for (const prop of Object.keys(style)) {
        const v = style[prop];
        if (typeof v === 'string') style[prop] = this.css(v);
        else if (Array.isArray(v) && typeof v[0] === 'string') v[0] = this.css(v[0]);
      }
    }

    /** `srcset`: image candidates "URL [descriptor]" separated by commas (HTML's parser). */
    srcset(value, tag) {
      const out = [];
      let i = 0;
      while (i < value.length) {
        while (i < value.length && /[\s,]/.test(value[i])) i++;
        if (i >= value.length) break;
        let j = i;
        while (j < value.length && !/\s/.test(value[j])) j++;
        let raw = value.slice(i, j);
        let descriptor = '';
        i = j;
        if (/,$/.test(raw)) {
          raw = raw.replace(/,+$/, '');
        } else {
          let depth = 0;
          let k = i;
          for (; k < value.length; k++) {
            const c = value[k];
            if (c === '(') depth++;
            else if (c === ')') depth = Math.max(0, depth - 1);
            else if (c === ',' && depth === 0) break;
          }
          descriptor = value.slice(i, k).trim();
          i = k + 1;
        }
        const safe = this.url(raw, tag);
        if (safe) out.push(safe.replace(/,+$/, (m) => '%2C'.repeat(m.length)) + (descriptor ? ' ' + descriptor : ''));
      }
      return out.length ? out.join(', ') : null;
    }

    urlList(value, tag) {
      const out = value.split(/\s+/).filter(Boolean).map((raw) => this.url(raw, tag)).filter(Boolean);
      return out.length ? out.join(' ') : null;
    }

    /** CSS text with every URL in it checked: url() tokens, the strings of @import and of
     *  image-set(), escapes decoded as the browser does (`u\72l(` is `url(`). */
    css(text) {
      if (!/url|image|src\(|@import|\\/i.test(text)) return text;  // nothing that can fetch
      return new CssScan(text, (raw) => this.url(raw, 'image', true)).run();
    }
  }

  function list(v) {
    return Array.isArray(v) ? v : [];
  }

  // ---- a CSS tokenizer (CSS Syntax Level 3), only as far as URLs need -----------------

  const PLAIN = /[^\/"'@#0-9.+\-A-Za-z_\u0080-\uFFFF\\()\[\]{};]+/y;  // nothing starts in these

  function isNameStart(c) {
    const k = c.charCodeAt(0);
    return (k >= 0x61 && k <= 0x7A) || (k >= 0x41 && k <= 0x5A) || k === 0x5F || k >= 0x80;
  }

  function isDigit(c) {
    const k = c.charCodeAt(0);
    return k >= 0x30 && k <= 0x39;
  }

  function isHex(c) {
    return isDigit(c) || /^[a-fA-F]$/.test(c);
  }

  function isName(c) {
    return isNameStart(c) || isDigit(c) || c === '-';
  }

  function isSpace(c) {
    return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f';
  }

  function quote(url) {
    return '"' + url.replace(/[\\"]/g, (c) => '\\' + c).replace(/[\n\r\f]/g, (c) => '\\' + c.charCodeAt(0).toString(16) + ' ') + '"';
  }

  /** One pass over CSS text; the text is copied as it is but for the edits recorded on the
   *  way (a URL replaced, a function renamed), applied at the end. */
  class CssScan {
    constructor(text, check) {
      this.s = text;
      this.i = 0;
      this.check = check;  // raw URL -> safe absolute URL or null
      this.edits = [];  // [start, end, text], by start
      this.stack = [];  // open parentheses: {fn (lower case name, '' for none), at (in the text), tainted}
      this.importing = false;  // after @import, before its ; or {
    }

    run() {
      const s = this.s;
      while (this.i < s.length) {
        const c = s[this.i];
        if (c === '/' && s[this.i + 1] === '*') this.comment();
        else if (c === '"' || c === "'") this.string();
        else if (c === '@' && this.identStartsAt(this.i + 1)) this.atKeyword();
        else if (c === '#') { this.i++; this.name(); }
        else if (isDigit(c) || ((c === '.' || c === '+' || c === '-') && this.numberStartsAt(this.i))) this.number();
        else if (this.identStartsAt(this.i)) this.identLike();
        else this.punctuation(c);
      }
      while (this.stack.length) this.close();
      return this.apply();
    }

    apply() {
      if (!this.edits.length) return this.s;
      // a renamed function (an insertion) and a replaced URL never start at the same place
      this.edits.sort((a, b) => a[0] - b[0]);
      let out = '';
      let at = 0;
      for (const [start, end, text] of this.edits) {
        out += this.s.slice(at, start) + text;
        at = end;
      }
      return out + this.s.slice(at);
    }

    comment() {
      const end = this.s.indexOf('*/', this.i + 2);
      this.i = end < 0 ? this.s.length : end + 2;
    }

    validEscapeAt(i) {
      return this.s[i] === '\\' && i + 1 < this.s.length && this.s[i + 1] !== '\n' && this.s[i + 1] !== '\r' && this.s[i + 1] !== '\f';
    }

    identStartsAt(i) {
      const s = this.s;
      const c = s[i];
      if (c === undefined) return false;
      if (c === '-') return isNameStart(s[i + 1] || '') || s[i + 1] === '-' || this.validEscapeAt(i + 1);
      return isNameStart(c) || this.validEscapeAt(i);
    }

    numberStartsAt(i) {
      const s = this.s;
      if (s[i] === '+' || s[i] === '-') i++;
      if (isDigit(s[i] || '')) return true;
      return s[i] === '.' && isDigit(s[i + 1] || '');
    }

    /** One escape at this.i (a backslash): returns the character it stands for. */
    escape() {
      const s = this.s;
      this.i++;
      if (this.i >= s.length) return '\uFFFD';
      if (isHex(s[this.i])) {
        let hex = '';
        while (hex.length < 6 && this.i < s.length && isHex(s[this.i])) hex += s[this.i++];
        if (isSpace(s[this.i] || '')) this.i += s[this.i] === '\r' && s[this.i + 1] === '\n' ? 2 : 1;
        const code = parseInt(hex, 16);
        return code === 0 || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF) ? '\uFFFD' : String.fromCodePoint(code);
      }
      return s[this.i++];
    }

    /** A name (ident characters and escapes) from this.i; returns it decoded. */
    name() {
      let name = '';
      let from = this.i;
      while (this.i < this.s.length) {
        const c = this.s[this.i];
        if (isName(c)) { this.i++; continue; }
        if (!this.validEscapeAt(this.i)) break;
        name += this.s.slice(from, this.i) + this.escape();
        from = this.i;
      }
      return name + this.s.slice(from, this.i);
    }

    /** A string token: returns its decoded value (a bad string ends at a newline). */
    readString() {
      const s = this.s;
      const q = s[this.i++];
      let value = '';
      while (this.i < s.length) {
        const c = s[this.i];
        if (c === q) { this.i++; break; }
        if (c === '\n' || c === '\r' || c === '\f') break;
        if (c === '\\') {
          const next = s[this.i + 1];
          if (next === undefined) { this.i++; break; }
          if (next === '\n' || next === '\f') { this.i += 2; continue; }
          if (next === '\r') { this.i += s[this.i + 2] === '\n' ? 3 : 2; continue; }
          value += this.escape();
          continue;
        }
        value += c;
        this.i++;
      }
      return value;
    }

    inUrlContext() {
      const top = this.stack[this.stack.length - 1];
      return top ? URL_FUNCTIONS.has(top.fn) : this.importing;
    }

    string() {
      const start = this.i;
      const value = this.readString();
      if (!this.inUrlContext()) return;
      const safe = this.check(value);
      this.edits.push([start, this.i, safe ? quote(safe) : '""']);
    }

    number() {
      const s = this.s;
      if (s[this.i] === '+' || s[this.i] === '-') this.i++;
      while (isDigit(s[this.i] || '')) this.i++;
      if (s[this.i] === '.' && isDigit(s[this.i + 1] || '')) { this.i++; while (isDigit(s[this.i] || '')) this.i++; }
      const sign = s[this.i + 1] === '+' || s[this.i + 1] === '-' ? 1 : 0;
      if ((s[this.i] === 'e' || s[this.i] === 'E') && isDigit(s[this.i + 1 + sign] || '')) {
        this.i += 1 + sign;
        while (isDigit(s[this.i] || '')) this.i++;
      }
      if (this.identStartsAt(this.i)) this.name();  // a dimension: its unit is not a function
    }

    atKeyword() {
      this.i++;
      if (this.name().toLowerCase() === 'import') this.importing = true;
    }

    identLike() {
      const start = this.i;
      const name = this.name().toLowerCase();
      if (this.s[this.i] !== '(') return;
      this.i++;
      if (name === 'url') {
        let j = this.i;
        while (isSpace(this.s[j] || '')) j++;
        if (this.s[j] !== '"' && this.s[j] !== "'") { this.urlToken(start); return; }
        // url("...") is a function with a string argument
      }
      if (UNCHECKABLE.has(name)) for (const b of this.stack) if (URL_FUNCTIONS.has(b.fn)) b.tainted = true;
      this.stack.push({ fn: name, at: start, tainted: false });
    }

    /** An unquoted url( ... ) token from `start` (this.i is after the parenthesis). */
    urlToken(start) {
      const s = this.s;
      while (isSpace(s[this.i] || '')) this.i++;
      let value = '';
      let bad = false;
      while (this.i < s.length) {
        const c = s[this.i];
        if (c === ')') { this.i++; break; }
        if (isSpace(c)) {
          while (isSpace(s[this.i] || '')) this.i++;
          if (this.i >= s.length || s[this.i] === ')') { this.i++; break; }
          bad = true;
          continue;
        }
        if (c === '"' || c === "'" || c === '(' || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7F) { bad = true; this.i++; continue; }
        if (c === '\\') {
          if (this.validEscapeAt(this.i)) value += this.escape();
          else { bad = true; this.i++; }
          continue;
        }
        value += c;
        this.i++;
      }
      const safe = bad ? null : this.check(value);
      this.edits.push([start, Math.min(this.i, s.length), safe ? 'url(' + quote(safe) + ')' : BLOCKED_URL]);
    }

    punctuation(c) {
      PLAIN.lastIndex = this.i;
      if (PLAIN.test(this.s)) { this.i = PLAIN.lastIndex; return; }  // a run of them at once
      this.i++;
      if (c === '(') this.stack.push({ fn: '', at: this.i - 1, tainted: false });
      else if (c === ')' && this.stack.length) this.close();
      else if ((c === ';' || c === '{' || c === '}') && !this.stack.length) this.importing = false;
    }

    /** A function ends: one that got a value from elsewhere (var()) goes, name and all, so
     *  the declaration is invalid and fetches nothing. */
    close() {
      const b = this.stack.pop();
      if (b.tainted) this.edits.push([b.at, b.at, '-cobrowse-blocked-']);
    }
  }

  window.ChatCobrowseSanitizer = Sanitizer;
})();
