// ---- state: what the widget knows of the visitor's conversation and connection

/** conv: the open conversation {id, state, agentName, position, eta} or null; prevCid: the
 *  one that ended last (its history and late events still show); last: cid -> highest seq
 *  shown; outbox: messages not acknowledged yet (kept in localStorage across reloads). */
const S = {
  conv: null, prevCid: null, starting: false, early: [], ready: false, conn: 'idle',
  last: new Map(), shown: new Set(), outbox: [], unread: new Set(), open: false,
  readSeq: 0, readSent: 0, agentRead: 0, profile: {}, pendingProfile: null, rehello: false,
};
