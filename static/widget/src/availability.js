// ---- availability and the site's settings, from `hello` and the `availability` event.
// A server that sends neither leaves S.site and S.avail null: the widget then behaves as it
// always did (the constant "We usually reply..." line, no forms, the composer).

/** The site's settings from hello ok's `site`, kept only in the shapes the widget can show. */
function readSite(site) {
  if (!site || typeof site !== 'object') return null;
  const str = (v) => (typeof v === 'string' ? v : '');
  const form = (Array.isArray(site.form) ? site.form : [])
    .filter((f) => f && str(f.name) && ['text', 'email', 'select', 'checkbox'].includes(f.type))
    .map((f) => ({
      name: f.name, label: str(f.label) || f.name, type: f.type, required: f.required === true,
      options: Array.isArray(f.options) ? f.options.filter((o) => typeof o === 'string') : [],
    }));
  const topics = (Array.isArray(site.topics) ? site.topics : [])
    .filter((t) => t && str(t.id))
    .map((t) => ({ id: t.id, label: str(t.label) || t.id }));
  const p = site.privacy;
  const privacy = p && str(p.text) ? { text: p.text, url: /^https?:\/\//i.test(str(p.url)) ? p.url : null } : null;
  const after = Number(site.offline_after_s);
  const f = site.files;
  const files = f && typeof f.max_bytes === 'number' && Array.isArray(f.types)
    ? { maxBytes: f.max_bytes, types: f.types.filter((t) => typeof t === 'string') } : null;
  return {
    form, topics, privacy, sneakPeek: site.sneak_peek === true,
    offlineAfter: Number.isFinite(after) && after > 0 ? after : null, files,
  };
}

function applyAvailability(a) {
  if (!a || typeof a !== 'object') return;
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  S.avail = {
    open: a.open !== false, online: a.online === true, bot: a.bot === true,
    replyS: num(a.reply_s), next: num(a.next_change),
  };
  renderHeader();
  renderQueue();
}

/** Nobody can answer now: the site is closed (business hours), or neither an agent nor
 *  the site's bot (issue 17) is online. Not known yet (or an older server): not away. */
function isAway() {
  return !!S.avail && (!S.avail.open || (!S.avail.online && !S.avail.bot));
}

/** No person can answer now (a bot may): what a queued conversation waits for. */
function noPerson() {
  return !!S.avail && (!S.avail.open || !S.avail.online);
}

/** Agents see the visitor's draft only when the site turned sneak peek on (a server that
 *  sends no site settings forwards drafts as it always did). */
function sneakPeek() {
  return S.site ? S.site.sneakPeek : true;
}

/** The header's line while there is no open conversation. */
function availabilityText() {
  const a = S.avail;
  if (!a) return T.idle;
  if (!isAway() && !a.online) return T.botOnline;
  if (!isAway()) return a.replyS != null ? tr('onlineReply', { m: Math.max(1, Math.round(a.replyS / 60)) }) : T.online;
  if (a.open || a.next == null) return T.away;
  return backAt(a.next);
}

/** "back at 09:00" today, "tomorrow at", a weekday within the week, else a date: in the
 *  visitor's own time zone. */
function backAt(ts) {
  const when = new Date(ts);
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(when) - day(new Date())) / 86400000);
  const time = timeOf(ts);
  if (days <= 0) return tr('awayAt', { time });
  if (days === 1) return tr('awayTomorrow', { time });
  const name = days < 7
    ? when.toLocaleDateString(LANG, { weekday: 'long' })
    : when.toLocaleDateString(LANG, { day: 'numeric', month: 'short' });
  return tr('awayDay', { day: name, time });
}
