// ---- styles -----------------------------------------------------------------------

const CSS = `
:host { all: initial !important; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
.root { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
color: #111827; text-align: left; direction: ltr; letter-spacing: normal; text-transform: none;
-webkit-font-smoothing: antialiased; }
button, input, textarea, select { font: inherit; color: inherit; letter-spacing: inherit; margin: 0; }
button { cursor: pointer; }
:focus { outline: none; }
:focus-visible { outline: 2px solid ${ACCENT}; outline-offset: 2px; }
input:focus-visible, textarea:focus-visible, select:focus-visible { outline: none; }
.launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 58px; height: 58px;
border: 0; padding: 0; border-radius: 50%; background: ${ACCENT}; color: #fff; display: grid; place-items: center;
box-shadow: 0 6px 20px rgba(17,24,39,.28); transition: transform .15s ease; }
.launcher:hover { transform: scale(1.06); }
.launcher:focus-visible { outline: 3px solid #111827; outline-offset: 3px; }
.launcher svg { width: 28px; height: 28px; }
.badge { position: absolute; top: -3px; right: -3px; min-width: 22px; height: 22px; padding: 0 6px;
border-radius: 11px; background: #dc2626; color: #fff; font-size: 12px; font-weight: 700;
line-height: 18px; text-align: center; border: 2px solid #fff; }
.panel { position: fixed; right: 20px; bottom: 92px; z-index: 2147483000; width: 380px;
height: min(620px, calc(100vh - 112px)); display: flex; flex-direction: column; background: #fff;
border-radius: 16px; overflow: hidden; box-shadow: 0 16px 48px rgba(17,24,39,.24), 0 0 0 1px rgba(17,24,39,.06); }
header { display: flex; align-items: center; gap: 10px; padding: 14px 10px 14px 16px;
background: ${ACCENT}; color: #fff; }
.avatar { flex: none; width: 36px; height: 36px; border-radius: 50%; background: rgba(255,255,255,.2);
display: grid; place-items: center; font-weight: 700; font-size: 15px; position: relative; }
.avatar svg { width: 20px; height: 20px; }
.dot { position: absolute; right: -1px; bottom: -1px; width: 11px; height: 11px; border-radius: 50%;
border: 2px solid ${ACCENT}; background: #22c55e; }
.dot.off { background: #f59e0b; }
.dot.down { background: #9ca3af; }
.dot.away { background: #d1d5db; }
header .title { flex: 1; min-width: 0; }
header h2 { margin: 0; font-size: 16px; font-weight: 650; line-height: 1.3; white-space: nowrap; overflow: hidden;
text-overflow: ellipsis; color: #fff; }
header p { margin: 0; font-size: 12.5px; opacity: .9; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; color: #fff; }
header button { border: 0; background: rgba(255,255,255,.16); color: #fff; border-radius: 8px;
padding: 6px 10px; font-size: 13px; white-space: nowrap; }
header button:hover { background: rgba(255,255,255,.3); }
header button:focus-visible { outline-color: #fff; }
header .icon { width: 34px; height: 34px; padding: 0; display: grid; place-items: center; }
header .icon svg { width: 22px; height: 22px; }
.confirm { display: flex; align-items: center; gap: 8px; padding: 8px 12px; background: #f3f4f6;
border-bottom: 1px solid #e5e7eb; font-size: 13px; }
.confirm span { flex: 1; }
.btn { border: 1px solid #d1d5db; background: #fff; border-radius: 8px; padding: 5px 12px; font-size: 13px; }
.btn:hover { background: #f9fafb; }
.btn.primary { background: ${ACCENT}; border-color: ${ACCENT}; color: #fff; font-weight: 600; }
.btn.danger { background: #b91c1c; border-color: #b91c1c; color: #fff; font-weight: 600; }
.banner { padding: 7px 12px; font-size: 12.5px; text-align: center; background: #fef3c7; color: #92400e;
border-bottom: 1px solid #fde68a; }
.banner.offline { background: #fee2e2; color: #991b1b; border-color: #fecaca; }
.queue { padding: 8px 12px; font-size: 13px; text-align: center; background: #eff6ff; color: #1e3a8a;
border-bottom: 1px solid #dbeafe; }
.list { flex: 1; overflow-y: auto; padding: 14px 12px 6px; display: flex; flex-direction: column; gap: 4px;
background: #f9fafb; overscroll-behavior: contain; }
.empty { align-self: flex-start; max-width: 85%; margin: 4px 0; padding: 10px 14px; background: #fff; color: #111827;
border: 1px solid #e5e7eb; border-radius: 16px; border-bottom-left-radius: 4px; }
.row { display: flex; flex-direction: column; max-width: 82%; }
.row.me { align-self: flex-end; align-items: flex-end; }
.row.agent { align-self: flex-start; align-items: flex-start; }
.row.sys { align-self: center; max-width: 92%; color: #6b7280; font-size: 12px; text-align: center;
margin: 6px 0; }
.who { font-size: 12px; color: #6b7280; margin: 6px 0 2px 4px; }
.bot-tag { display: inline-block; font-size: 10px; font-weight: 600; line-height: 1.4; padding: 0 5px;
border-radius: 6px; background: #e0e7ff; color: #3730a3; vertical-align: middle; }
.bubble { padding: 8px 12px; border-radius: 16px; white-space: pre-wrap; overflow-wrap: anywhere;
word-break: normal; }
.me .bubble { background: ${ACCENT}; color: #fff; border-bottom-right-radius: 4px; }
.agent .bubble { background: #fff; color: #111827; border: 1px solid #e5e7eb; border-bottom-left-radius: 4px; }
.bubble a { color: inherit; text-decoration: underline; }
.meta { font-size: 11px; color: #6b7280; margin: 2px 4px 2px; display: flex; gap: 6px; align-items: center; }
.meta .seen { color: ${ACCENT}; font-weight: 600; }
.pending .bubble { opacity: .65; }
.failed .bubble { background: #fee2e2; color: #991b1b; }
.failed .meta { color: #b91c1c; }
.meta button { border: 0; background: none; color: ${ACCENT}; padding: 0; font-size: 11px; font-weight: 600;
text-decoration: underline; }
.typing { display: flex; align-items: center; gap: 8px; padding: 2px 16px 6px; min-height: 24px; font-size: 12px;
color: #6b7280; background: #f9fafb; }
.dots { display: inline-flex; gap: 3px; }
.dots i { width: 6px; height: 6px; border-radius: 50%; background: #9ca3af; animation: blink 1.2s infinite both; }
.dots i:nth-child(2) { animation-delay: .2s; }
.dots i:nth-child(3) { animation-delay: .4s; }
@keyframes blink { 0%, 80%, 100% { opacity: .3; } 40% { opacity: 1; } }
.card { align-self: stretch; background: #fff; border: 1px solid #e5e7eb; border-radius: 12px;
padding: 12px 14px; margin: 6px 0; }
.card h3 { margin: 0 0 4px; font-size: 14px; font-weight: 650; }
.card p { margin: 0 0 8px; font-size: 12.5px; color: #4b5563; }
.field { display: flex; flex-direction: column; gap: 3px; margin-bottom: 8px; font-size: 12.5px; color: #374151;
font-weight: 500; }
input, textarea, select { border: 1px solid #d1d5db; border-radius: 10px; padding: 8px 10px; background: #fff;
font-weight: 400; color: #111827; }
select { padding: 7px 8px; }
input:focus, textarea:focus, select:focus { border-color: ${ACCENT}; box-shadow: 0 0 0 3px rgba(37,99,235,.18); }
input[aria-invalid="true"], select[aria-invalid="true"], textarea[aria-invalid="true"] { border-color: #dc2626; }
.req { color: #b91c1c; }
.card p.note { font-size: 11.5px; color: #6b7280; margin: 2px 0 0; }
.field.check label { display: flex; gap: 8px; align-items: flex-start; font-weight: 400; color: #111827; }
.field.check input { width: 18px; height: 18px; margin: 1px 0 0; padding: 0; flex: none; accent-color: ${ACCENT}; }
.topics { border: 0; margin: 0 0 8px; padding: 0; min-width: 0; }
.topics legend { font-size: 12.5px; color: #374151; font-weight: 500; padding: 0; margin-bottom: 5px; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; }
.chip { position: relative; }
.chip input { position: absolute; opacity: 0; width: 1px; height: 1px; margin: 0; padding: 0; }
.chip span { display: inline-block; border: 1px solid #d1d5db; border-radius: 999px; padding: 5px 12px; font-size: 13px;
background: #fff; color: #111827; cursor: pointer; }
.chip span:hover { border-color: ${ACCENT}; }
.chip input:checked + span { background: ${ACCENT}; border-color: ${ACCENT}; color: #fff; }
.chip input:focus-visible + span { outline: 2px solid ${ACCENT}; outline-offset: 2px; }
.chip input[aria-invalid="true"] + span { border-color: #dc2626; }
.queue.pending { background: #ecfdf5; color: #065f46; border-bottom-color: #a7f3d0; }
.leave-now { padding: 8px 12px; background: #eff6ff; border-bottom: 1px solid #dbeafe; text-align: center; font-size: 13px; }
.leave-now form { text-align: left; }
.leave-now p { margin: 0 0 6px; color: #1e3a8a; }
.leave-now label { display: block; font-size: 12.5px; color: #374151; margin-bottom: 3px; }
.leave-now .inline { display: flex; gap: 6px; }
.leave-now .inline input { flex: 1; min-width: 0; }
.leave-now .btn { padding: 6px 14px; }
.notice { margin: 0; padding: 6px 12px 0; font-size: 11.5px; color: #6b7280; background: #fff; border-top: 1px solid #e5e7eb; }
.notice a { color: inherit; text-decoration: underline; }
.notice + .composer-err, .notice:not([hidden]) + .composer-err + form.composer,
.notice:not([hidden]) + form.composer { border-top: 0; }
.notice.peek { padding: 0 12px 8px; border-top: 0; margin-top: -4px; }
.composer-err { padding: 6px 12px 0; margin: 0; background: #fff; border-top: 1px solid #e5e7eb; }
.composer-err:not([hidden]) + form.composer { border-top: 0; }
.ended { display: flex; align-items: center; gap: 10px; padding: 10px 12px; border-top: 1px solid #e5e7eb;
background: #fff; font-size: 13px; color: #374151; }
.ended .txt { flex: 1; }
.ended .btn { padding: 7px 14px; white-space: nowrap; }
.error, .card p.error { color: #b91c1c; font-size: 12px; margin: 2px 0 0; font-weight: 400; }
form.composer { display: flex; gap: 8px; align-items: flex-end; padding: 10px 12px;
border-top: 1px solid #e5e7eb; background: #fff; }
form.composer textarea { flex: 1; resize: none; max-height: 120px; min-height: 40px; line-height: 1.4; }
.send { flex: none; border: 0; border-radius: 10px; background: ${ACCENT}; color: #fff; width: 40px; height: 40px;
display: grid; place-items: center; padding: 0; }
.send svg { width: 20px; height: 20px; }
.send:disabled { opacity: .45; cursor: default; }
.survey fieldset { border: 0; margin: 0 0 12px; padding: 0; min-width: 0; }
.survey legend { font-size: 12.5px; color: #374151; margin-bottom: 6px; padding: 0; font-weight: 500; }
.scale { display: grid; grid-template-columns: repeat(var(--n), minmax(0, 1fr)); gap: 3px; }
.scale button { min-width: 0; height: 30px; padding: 0; border: 1px solid #d1d5db;
border-radius: 6px; background: #fff; color: #111827; font-size: 12.5px; }
.scale.short { max-width: 240px; }
.scale button:hover { border-color: ${ACCENT}; }
.scale button[aria-checked="true"] { background: ${ACCENT}; border-color: ${ACCENT}; color: #fff; }
.scale.stars { display: flex; gap: 2px; }
.stars button, .stars button[aria-checked="true"] { border: 0; background: none; width: 36px; height: 36px;
padding: 2px; color: #d1d5db; border-radius: 8px; }
.stars button svg { width: 30px; height: 30px; }
.stars button.on { color: #f59e0b; }
.hint { display: flex; justify-content: space-between; font-size: 11px; color: #6b7280; margin-top: 3px; }
.scale.short + .hint { max-width: 240px; }
.survey textarea { width: 100%; min-height: 56px; resize: vertical; }
.actions { display: flex; gap: 8px; justify-content: flex-end; margin-top: 8px; }
.done { align-self: center; color: #166534; background: #dcfce7; border-radius: 999px; padding: 4px 12px;
font-size: 12.5px; margin: 6px 0; }
.cobrowse-ask { display: flex; gap: 10px; padding: 12px 14px; background: #eff6ff; border-bottom: 1px solid #bfdbfe; }
.cobrowse-ask .cb-icon { flex: none; width: 34px; height: 34px; border-radius: 50%; background: ${ACCENT}; color: #fff;
display: grid; place-items: center; }
.cobrowse-ask .cb-icon svg { width: 18px; height: 18px; }
.cobrowse-ask .cb-body { flex: 1; min-width: 0; }
.cobrowse-ask p { margin: 0; }
.cb-title { font-weight: 650; font-size: 14px; color: #111827; }
.cb-text { font-size: 12.5px; color: #374151; margin-top: 3px !important; }
.cb-actions { display: flex; gap: 8px; margin-top: 10px; justify-content: flex-end; }
.cb-actions .btn { padding: 6px 14px; }
.cobrowse-bar { position: fixed; top: 12px; left: 50%; transform: translateX(-50%); z-index: 2147483001;
display: flex; align-items: center; gap: 10px; max-width: calc(100vw - 24px); padding: 6px 6px 6px 14px;
border-radius: 999px; background: #111827; color: #fff; font-size: 13px; font-weight: 500;
box-shadow: 0 8px 24px rgba(17,24,39,.35); }
.cobrowse-bar .rec { flex: none; width: 10px; height: 10px; border-radius: 50%; background: #ef4444;
box-shadow: 0 0 0 3px rgba(239,68,68,.35); }
.cobrowse-bar .txt { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.cobrowse-bar button { flex: none; border: 0; border-radius: 999px; background: #dc2626; color: #fff; font-weight: 600;
font-size: 12.5px; padding: 6px 14px; }
.cobrowse-bar button:hover { background: #b91c1c; }
.cobrowse-bar button:focus-visible { outline-color: #fff; }
.cb-pointer { position: fixed; left: 0; top: 0; z-index: 2147483002; pointer-events: none; color: #db2777;
transition: transform .1s linear; will-change: transform; }
.cb-pointer svg { display: block; width: 24px; height: 24px; stroke: #fff; stroke-width: 1.2px;
filter: drop-shadow(0 1px 2px rgba(0,0,0,.35)); }
.cb-pointer .name { position: absolute; left: 18px; top: 20px; padding: 2px 8px; border-radius: 999px; background: #db2777;
color: #fff; font-size: 11.5px; font-weight: 600; white-space: nowrap; }
.cb-mark { position: fixed; left: 0; top: 0; z-index: 2147482999; pointer-events: none; border: 3px solid #db2777;
border-radius: 6px; box-shadow: 0 0 0 4px rgba(219,39,119,.25); transition: opacity .4s; }
.cb-mark.fade { opacity: 0; }
form.composer { flex-wrap: wrap; position: relative; }
.attach { flex: none; width: 36px; height: 40px; border: 0; border-radius: 10px; background: transparent; color: #4b5563;
display: grid; place-items: center; padding: 0; margin: 0 -4px; }
.attach:hover { background: #f3f4f6; color: #111827; }
.attach svg { width: 22px; height: 22px; }
.attach[aria-disabled="true"] { color: #9ca3af; cursor: default; }
.attach[aria-disabled="true"]:hover { background: transparent; color: #9ca3af; }
.attach-tip { display: none; position: absolute; right: 8px; bottom: calc(100% + 2px); z-index: 3; max-width: calc(100% - 16px);
padding: 6px 10px; border-radius: 8px; background: #111827; color: #fff; font-size: 12px; line-height: 1.35;
box-shadow: 0 4px 12px rgba(17,24,39,.2); }
.attach[aria-disabled="true"]:hover + .attach-tip, .attach[aria-disabled="true"]:focus-visible + .attach-tip { display: block; }
.composer-err { white-space: pre-line; }
.file-tray { flex: 1 0 100%; list-style: none; margin: 0 0 2px; padding: 2px 0 4px; display: flex; gap: 6px; overflow-x: auto; }
.file-chip { flex: none; display: flex; align-items: center; gap: 8px; width: 176px; padding: 5px; border: 1px solid #e5e7eb;
border-radius: 10px; background: #fff; }
.file-chip.failed { border-color: #fca5a5; background: #fef2f2; align-items: flex-start; }
.chip-preview { flex: none; width: 38px; height: 38px; border-radius: 6px; overflow: hidden; background: #f3f4f6;
display: grid; place-items: center; color: #dc2626; }
.chip-preview img { width: 100%; height: 100%; object-fit: cover; }
.chip-preview .file-icon { width: 22px; height: 22px; }
.chip-body { flex: 1; min-width: 0; display: flex; flex-direction: column; gap: 2px; font-size: 12px; line-height: 1.3; }
.chip-name { font-weight: 500; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.chip-size { color: #6b7280; }
.chip-error { color: #b91c1c; font-size: 11.5px; }
.chip-bar { display: block; height: 4px; border-radius: 2px; background: #e5e7eb; overflow: hidden; margin-top: 2px; }
.chip-fill { display: block; width: 0; height: 100%; background: ${ACCENT}; transition: width .15s; }
.chip-remove { flex: none; align-self: flex-start; width: 22px; height: 22px; padding: 0; border: 0; border-radius: 50%;
background: transparent; color: #6b7280; font-size: 17px; line-height: 1; }
.chip-remove:hover { background: #f3f4f6; color: #111827; }
.files { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 2px; max-width: 100%; }
.me .files { justify-content: flex-end; }
.bubble + .files { margin-top: 4px; }
.file-img { display: block; padding: 0; border: 1px solid #e5e7eb; border-radius: 14px; overflow: hidden; background: #f3f4f6;
line-height: 0; cursor: zoom-in; max-width: 100%; }
.file-img img { display: block; max-width: 100%; height: auto; }
.pending .file-img { opacity: .65; }
.file-dl { display: inline-block; max-width: 100%; padding: 8px 12px; border: 1px solid #e5e7eb; white-space: nowrap;
border-radius: 14px; background: #fff; color: #111827; font-size: 13px; text-decoration: none; text-align: left; }
.file-dl:hover { border-color: ${ACCENT}; }
.file-dl[aria-busy="true"] { opacity: .6; cursor: progress; }
.file-icon { width: 20px; height: 20px; flex: none; color: #dc2626; }
.file-dl .file-icon { vertical-align: middle; margin: -2px 6px 0 0; }
.file-name { font-weight: 500; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.file-dl .file-name { display: inline-block; max-width: 150px; vertical-align: bottom; }
.file-size { color: #6b7280; white-space: nowrap; }
.file-missing { font-size: 12px; color: #6b7280; font-style: italic; }
.drop-zone { position: absolute; inset: 8px; z-index: 4; display: grid; place-items: center; padding: 24px; pointer-events: none;
border: 2px dashed ${ACCENT}; border-radius: 14px; background: rgba(239,246,255,.94); text-align: center; }
.drop-zone p { margin: 0; font-size: 15px; font-weight: 600; color: #1e3a8a; }
.lightbox { border: 0; padding: 0; margin: auto; width: fit-content; min-width: min(320px, 96vw); max-width: 96vw; max-height: 96vh;
background: transparent; display: flex; flex-direction: column; gap: 8px; overflow: visible; color: #111827; }
.lightbox:not([open]) { display: none; }
.lightbox::backdrop { background: rgba(17,24,39,.82); }
.lb-bar { display: flex; align-items: center; justify-content: space-between; gap: 12px; }
.lb-close { flex: none; width: 38px; height: 38px; padding: 0; border: 0; border-radius: 50%; background: rgba(255,255,255,.95);
font-size: 24px; line-height: 1; color: #111827; }
.lb-close:focus-visible { outline-color: #fff; }
.lb-stage { display: grid; place-items: center; min-height: 0; }
.lb-img { display: block; max-width: 100%; max-height: calc(96vh - 60px); object-fit: contain; border-radius: 6px; background: #fff;
box-shadow: 0 12px 40px rgba(0,0,0,.4); }
@media (max-width: 480px) {
.panel { inset: 0; width: 100%; height: 100%; border-radius: 0; }
input, textarea, select { font-size: 16px; }  /* phones zoom into smaller fields */
/* the larger text: a long hint would wrap below the one line the composer shows */
form.composer textarea::placeholder { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.root.open .launcher { display: none; }
}
@media (prefers-reduced-motion: reduce) {
.launcher, .cb-pointer, .cb-mark, .chip-fill { transition: none; }
.dots i { animation: none; opacity: .7; }
}
`;
