// ---- state: what the widget knows of the visitor's conversation and connection

/** conv: the open conversation {id, state, agentName, agentBot,
 *  position, eta, created, queuedSince}
 *  or null; prevCid: the one that ended last (its history and late events still show);
 *  last: cid -> highest seq shown; outbox: messages not acknowledged yet (kept in
 *  localStorage across reloads). site: the site's settings from `hello` (form, topics,
 *  privacy, sneak_peek, offline_after_s) and avail: its `availability`, both null from a
 *  server that does not send them; readOnly: a returning visitor looks at their last,
 *  closed conversation (hello's `last`) until they ask for a new chat; lastClosed: its
 *  `closed` object; greeted: a `hello` was answered on this page. */
const S = {
  conv: null, prevCid: null, starting: false, early: [], ready: false, conn: 'idle',
  last: new Map(), shown: new Set(), outbox: [], unread: new Set(), open: false,
  readSeq: 0, readSent: 0, agentRead: 0, profile: {}, pendingProfile: null, rehello: false,
  site: null, avail: null, readOnly: false, lastClosed: null, greeted: false,
};
