// The browser phone: sign in, dial pad, call / answer / hang up, hold, mute, DTMF (keys and
// pad), a call timer, clear errors, and the member list of a conference (from its live array).
import { VertoClient } from './verto-client.js';

const $ = (id) => document.getElementById(id);
const phoneEl = $('phone');
const STATE_TEXT = {
  trying: 'Calling…', ringing: 'Ringing…', answering: 'Connecting…', early: 'Early media',
  active: 'In call', held: 'On hold', ended: 'Call ended',
};
const CAUSE_TEXT = {
  NORMAL_CLEARING: 'Call ended', USER_BUSY: 'Busy', NO_ANSWER: 'No answer', CALL_REJECTED: 'Declined',
  NO_ROUTE_DESTINATION: 'Number not found', UNALLOCATED_NUMBER: 'Number not found',
  USER_NOT_REGISTERED: 'Not available', RECOVERY_ON_TIMER_EXPIRE: 'Call lost while disconnected',
  INCOMPATIBLE_DESTINATION: 'No common audio codec', DESTINATION_OUT_OF_ORDER: 'Not reachable',
  BLIND_TRANSFER: 'Transferred', LOSE_RACE: 'Answered elsewhere', ORIGINATOR_CANCEL: 'Cancelled',
};

let client = null;
let current = null;       // the call shown
let incoming = null;      // a call offering itself
let timer = 0;
let noticeTimer = 0;
const members = new Map();

function view(name) { phoneEl.dataset.view = name; }

function notice(text, kind = '', sticky = false) {
  const el = $('notice');
  clearTimeout(noticeTimer);
  if (!text) { el.hidden = true; return; }
  el.textContent = text;
  el.className = `notice ${kind}`;
  el.hidden = false;
  if (!sticky) noticeTimer = setTimeout(() => { el.hidden = true; }, 5000);
}

function defaults() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const host = location.host || '127.0.0.1:8081';
  $('login-server').value = localStorage.getItem('verto.server') || `${scheme}://${host}/`;
  $('login-user').value = localStorage.getItem('verto.user') || '';
  $('login-domain').value = localStorage.getItem('verto.domain') || location.hostname || '127.0.0.1';
}

function sessid() {
  // Kept for this tab, so a reload logs in with the same sessid and gets its call back.
  let id = sessionStorage.getItem('verto.sessid');
  if (!id) { id = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2); sessionStorage.setItem('verto.sessid', id); }
  return id;
}

async function signIn(event) {
  event.preventDefault();
  const options = {
    url: $('login-server').value.trim(),
    user: $('login-user').value.trim(),
    password: $('login-password').value,
    domain: $('login-domain').value.trim() || location.hostname,
    sessid: sessid(),
  };
  $('login-error').hidden = true;
  $('login-button').disabled = true;
  client = new VertoClient(options);
  wire(client);
  try {
    await client.connect();
    localStorage.setItem('verto.server', options.url);
    localStorage.setItem('verto.user', options.user);
    localStorage.setItem('verto.domain', options.domain);
    $('who').textContent = client.login;
    $('logout').hidden = false;
    view('phone');
    $('number').focus();
  } catch (error) {
    const text = error.code === -32001 ? 'Wrong extension or password' : error.message;
    $('login-error').textContent = text;
    $('login-error').hidden = false;
    client = null;
  } finally {
    $('login-button').disabled = false;
  }
}

function signOut() {
  if (client) client.disconnect();
  client = null;
  current = incoming = null;
  sessionStorage.removeItem('verto.sessid');
  $('who').textContent = '';
  $('logout').hidden = true;
  phoneEl.dataset.conn = '';
  render();
  view('login');
}

function wire(c) {
  let lost = false;
  c.on('connection', ({ state }) => {
    phoneEl.dataset.conn = state;
    if (state === 'reconnecting') { lost = true; notice('Connection lost — reconnecting…', 'bad', true); }
    if (state === 'ready' && lost) { lost = false; notice('Connected again', 'good'); }
  });
  c.on('ready', ({ reattached }) => { if (reattached.length) notice('Connection restored — call re-attached', 'good'); });
  c.on('reattached', ({ call }) => { current = call; notice('Connection restored — call re-attached', 'good'); render(); });
  c.on('incoming', ({ call }) => { incoming = call; render(); });
  c.on('call', ({ call }) => {
    if (call === incoming && call.state === 'ended') incoming = null;
    if (!current && call.direction === 'outbound' && call.state !== 'ended') current = call;
    if (call.state === 'ended' && call === current) {
      notice(CAUSE_TEXT[call.cause] || call.cause.replaceAll('_', ' ').toLowerCase(), call.cause === 'NORMAL_CLEARING' ? '' : 'bad');
      setTimeout(() => { if (current === call) { current = null; render(); } }, 1500);
    }
    render();
  });
  c.on('remote-stream', ({ stream }) => { $('remote-audio').srcObject = stream; });
  c.on('dtmf', ({ digits }) => { $('call-dtmf').textContent += digits; });
  c.on('punt', () => { notice('Signed in somewhere else: this page was signed out', 'bad', true); signOut(); });
  c.on('event', onEvent);
  c.on('error', ({ error }) => notice(error.message, 'bad'));
}

// ---- conference member list (live array) --------------------------------------------------
// Rows as FreeSWITCH's live array sends them: [member id, cid number, cid name, codec@rate,
// status JSON, dvars, null]; the status carries audio.talking / muted / deaf / onHold / floor.
// A `modify` comes on every start/stop of talking and every (un)mute, so each row shows who is
// talking (green bars) and who is muted as it happens.

let myMemberID = '';
// The live array in view: its channel and name, the last wireSerno applied (-1: none yet), and
// whether a bootstrap is on its way.  A gap in the serial numbers means a message was lost (a busy
// socket drops events): the page asks for the whole array again, as verto.js's checkSerno does.
let liveArray = null;
const BOOTSTRAP_WAIT_MS = 3000;  // a bootstrap not answered by then may be asked again

function bootstrap() {
  const la = liveArray;
  if (!la || (la.asking && Date.now() - la.asking < BOOTSTRAP_WAIT_MS)) return;
  la.asking = Date.now();
  client.broadcast(la.channel, { liveArray: { command: 'bootstrap', context: la.channel, name: la.name, obj: {} } })
    .catch((e) => { la.asking = 0; notice(`Conference members unavailable: ${e.message}`, 'bad'); });
}

function checkSerno(serno) {
  const la = liveArray;
  if (!la || typeof serno !== 'number' || serno < 0) return true;
  if (la.serno >= 0 && serno <= la.serno) return false;   // already applied (or older): skip it
  const gap = la.serno >= 0 && serno !== la.serno + 1;
  la.serno = gap ? -1 : serno;                             // after a gap, the next message is the new base
  if (gap) { la.gaps += 1; bootstrap(); }
  return true;
}

function onEvent(event) {
  // A conference tells this browser alone (its sessid channel) where its live array is.
  const pvt = event.pvtData;
  if (pvt && pvt.action === 'conference-liveArray-join') {
    myMemberID = String(pvt.conferenceMemberID || '');
    liveArray = { channel: pvt.laChannel, name: pvt.laName, serno: -1, asking: 0, gaps: 0 };
    client.subscribe(pvt.laChannel)
      .then(bootstrap)
      .catch((e) => notice(`Conference members unavailable: ${e.message}`, 'bad'));
    return;
  }
  if (pvt && pvt.action === 'conference-liveArray-part') {
    members.clear(); myMemberID = ''; liveArray = null; renderMembers(); return;
  }
  const data = event.data || {};
  if (liveArray && event.eventChannel && event.eventChannel !== liveArray.channel) return;
  switch (data.action) {
    case 'bootObj':
      if (liveArray) liveArray.asking = 0;
      members.clear(); (data.data || []).forEach(([key, row]) => members.set(key, row)); break;
    case 'add': case 'modify':
      if (!checkSerno(data.wireSerno)) return;
      members.set(data.hashKey, data.data); break;
    case 'del':
      if (!checkSerno(data.wireSerno)) return;
      members.delete(data.hashKey); break;
    case 'clear': members.clear(); if (liveArray) liveArray.serno = -1; break;
    default: return;
  }
  renderMembers();
}

function memberStatus(row) {
  const [id, number, name, codec, statusText] = row || [];
  let status = {};
  try { status = typeof statusText === 'string' ? JSON.parse(statusText || '{}') : (statusText || {}); } catch (e) { status = {}; }
  const audio = status.audio || {};
  const muted = !!audio.muted;
  return {
    id: String(id || ''), number: number || '', name: name || '', codec: codec || '',
    muted, talking: !!audio.talking && !muted, deaf: !!audio.deaf, onHold: !!audio.onHold, floor: !!audio.floor,
  };
}

function badge(kind, text) {
  const el = document.createElement('span');
  el.className = `badge ${kind}`;
  el.textContent = text;
  return el;
}

function memberItem(m) {
  const li = document.createElement('li');
  li.className = 'member';
  li.dataset.memberId = m.id;
  li.dataset.number = m.number;
  li.dataset.talking = String(m.talking);
  li.dataset.muted = String(m.muted);
  li.classList.toggle('talking', m.talking);
  li.classList.toggle('muted', m.muted);
  li.classList.toggle('me', !!myMemberID && Number(m.id) === Number(myMemberID));

  const bars = document.createElement('span');
  bars.className = 'talk-bars';
  bars.setAttribute('aria-hidden', 'true');
  bars.append(document.createElement('i'), document.createElement('i'), document.createElement('i'));

  const who = document.createElement('span');
  who.className = 'member-who';
  const label = m.name && m.name !== m.number ? `${m.name} (${m.number})` : m.number || '?';
  who.textContent = label;
  if (li.classList.contains('me')) who.append(badge('you', 'you'));

  const flags = document.createElement('span');
  flags.className = 'flags';
  if (m.talking) flags.append(badge('talking', 'talking'));
  if (m.muted) flags.append(badge('muted', 'muted'));
  if (m.deaf) flags.append(badge('deaf', 'deaf'));
  if (m.onHold) flags.append(badge('hold', 'on hold'));

  const state = [m.talking ? 'talking' : '', m.muted ? 'muted' : '', m.deaf ? 'deaf' : '', m.onHold ? 'on hold' : ''].filter(Boolean);
  li.title = state.length ? `${label}: ${state.join(', ')}` : label;
  li.setAttribute('aria-label', li.title);
  li.append(bars, who, flags);
  return li;
}

function renderMembers() {
  const list = $('members-list');
  const shown = [...members.values()].map(memberStatus).sort((a, b) => Number(a.id) - Number(b.id));
  list.replaceChildren(...shown.map(memberItem));
  const talking = shown.filter((m) => m.talking).length;
  $('members-count').textContent = members.size ? `(${members.size})` : '';
  $('members-talking').textContent = talking ? `${talking} talking` : '';
  $('members').hidden = members.size === 0;
}

// ---- the call card ----------------------------------------------------------------------------

function clock() {
  if (!current || !current.answeredAt) { $('call-timer').textContent = '00:00'; return; }
  const s = Math.floor((Date.now() - current.answeredAt) / 1000);
  const hh = Math.floor(s / 3600);
  const mmss = `${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  $('call-timer').textContent = hh ? `${hh}:${mmss}` : mmss;
}

function render() {
  const call = current;
  const live = call && call.state !== 'ended';
  phoneEl.dataset.call = call ? call.state : 'idle';
  $('call-card').hidden = !call;
  if (call) {
    const p = call.params;
    $('call-state').textContent = STATE_TEXT[call.state] || call.state;
    const number = p.display_number || (call.direction === 'outbound' ? p.destination_number : p.caller_id_number) || '';
    const name = p.display_name || (call.direction === 'inbound' ? p.caller_id_name : '') || number;
    $('call-party').textContent = name;
    $('call-number').textContent = name !== number ? number : '';
  } else {
    $('call-dtmf').textContent = '';
  }
  $('incoming').hidden = !incoming || incoming.state !== 'ringing';
  if (incoming) $('incoming-party').textContent = `${incoming.params.caller_id_name || ''} ${incoming.params.caller_id_number || ''}`.trim();
  $('call').hidden = !!live;
  $('hangup').hidden = !live;
  $('mute').hidden = !live;
  $('hold').hidden = !live || !['active', 'held'].includes(call.state);
  $('mute').classList.toggle('on', !!(call && call.muted));
  $('mute').textContent = call && call.muted ? 'Unmute' : 'Mute';
  $('hold').classList.toggle('on', !!(call && call.held));
  $('hold').textContent = call && call.held ? 'Resume' : 'Hold';
  clearInterval(timer);
  if (live) timer = setInterval(clock, 500);
  clock();
}

// ---- actions ----------------------------------------------------------------------------------

async function dial() {
  const number = $('number').value.trim();
  if (!client || !number || (current && current.state !== 'ended')) return;
  try {
    current = await client.invite(number);
    render();
  } catch (error) {
    notice(error.media ? error.message : `Call failed: ${error.message}`, 'bad', !!error.media);
  }
}

function press(key) {
  const button = document.querySelector(`.pad button[data-key="${CSS.escape(key)}"]`);
  if (button) { button.classList.add('pressed'); setTimeout(() => button.classList.remove('pressed'), 120); }
  if (current && ['active', 'held', 'early'].includes(current.state)) {
    $('call-dtmf').textContent += key;
    current.dtmf(key).catch((e) => notice(e.message, 'bad'));
  } else {
    $('number').value += key;
  }
}

async function answer() {
  const call = incoming;
  if (!call) return;
  incoming = null;
  current = call;
  try { await call.answer(); } catch (error) { notice(error.message, 'bad', !!error.media); call.hangup(error.media ? 'CALL_REJECTED' : undefined); }
  render();
}

function decline() {
  if (incoming) { incoming.hangup('CALL_REJECTED'); incoming = null; render(); }
}

function hangup() { if (current) current.hangup(); }
async function hold() { if (current) { try { await current.toggleHold(); } catch (e) { notice(e.message, 'bad'); } render(); } }
function mute() { if (current) { current.setMuted(!current.muted); render(); } }

document.addEventListener('keydown', (event) => {
  if (phoneEl.dataset.view !== 'phone' || event.ctrlKey || event.metaKey || event.altKey) return;
  const inNumber = event.target === $('number');
  const live = current && current.state !== 'ended';
  if (/^[0-9*#]$/.test(event.key) && (live || !inNumber)) { event.preventDefault(); press(event.key); return; }
  if (event.key === 'Enter') { event.preventDefault(); if (incoming) answer(); else dial(); return; }
  if (event.key === 'Escape') { event.preventDefault(); if (incoming) decline(); else hangup(); return; }
  if (live && !inNumber && (event.key === 'h' || event.key === 'H')) hold();
  if (live && !inNumber && (event.key === 'm' || event.key === 'M')) mute();
});

$('login-form').addEventListener('submit', signIn);
$('logout').addEventListener('click', signOut);
$('call').addEventListener('click', dial);
$('hangup').addEventListener('click', hangup);
$('hold').addEventListener('click', hold);
$('mute').addEventListener('click', mute);
$('answer').addEventListener('click', answer);
$('decline').addEventListener('click', decline);
$('backspace').addEventListener('click', () => { $('number').value = $('number').value.slice(0, -1); });
document.querySelectorAll('.pad button').forEach((b) => b.addEventListener('click', () => press(b.dataset.key)));

// What tests (and curious people) can look at from the console.
window.vertoPhone = {
  get client() { return client; },
  get call() { return current; },
  get incoming() { return incoming; },
  state: () => ({ view: phoneEl.dataset.view, conn: phoneEl.dataset.conn || '', call: phoneEl.dataset.call || 'idle' }),
  stats: () => (current ? current.stats() : Promise.resolve(null)),
  dropSocket: () => client && client.dropSocket(),
  members: () => [...members.values()].map(memberStatus),
  liveArray: () => (liveArray ? { ...liveArray } : null),
};

defaults();
render();
