// The Verto protocol (JSON-RPC 2.0 over WebSocket) with standard WebRTC, as FreeSWITCH's
// verto.js speaks it: login, verto.invite / answer / media / bye / info / modify / attach,
// the server's requests acknowledged with {"result":{"method":...}}, and a reconnect that
// logs in again with the same sessid so the switch re-attaches the call (verto.attach).
// No framework, no build step.

const RECONNECT_DELAYS = [250, 500, 1000, 2000, 4000, 8000];
const ICE_WAIT_MS = 2000;

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function waitIce(pc) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const timer = setTimeout(resolve, ICE_WAIT_MS);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
    });
  });
}

export class VertoError extends Error {
  constructor(error) {
    super(error.message || 'error');
    this.code = error.code;
    this.data = error;
  }
}

// One call: its peer connection and the state the page shows.
export class VertoCall {
  constructor(client, callID, direction, params = {}) {
    this.client = client;
    this.callID = callID;
    this.direction = direction;   // "outbound": we called; "inbound": the switch calls us
    this.params = params;
    this.state = 'new';           // new, trying, ringing, early, active, held, ended
    this.pc = null;
    this.remoteSet = false;
    this.muted = false;
    this.held = false;
    this.answeredAt = 0;
    this.cause = '';
  }

  async _peer() {
    if (this.pc) this.pc.close();
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    this.remoteSet = false;
    const stream = await this.client.microphone();
    stream.getAudioTracks().forEach((track) => { track.enabled = !this.muted; pc.addTrack(track, stream); });
    pc.ontrack = (event) => this.client.emit('remote-stream', { call: this, stream: event.streams[0] || new MediaStream([event.track]) });
    pc.onconnectionstatechange = () => this.client.emit('media', { call: this, state: pc.connectionState });
    return pc;
  }

  async _answerOffer(sdp) {
    const pc = await this._peer();
    await pc.setRemoteDescription({ type: 'offer', sdp });
    this.remoteSet = true;
    await pc.setLocalDescription(await pc.createAnswer());
    await waitIce(pc);
    return pc.localDescription.sdp;
  }

  async _setAnswer(sdp) {
    if (!sdp || this.remoteSet || !this.pc) return;
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
    this.remoteSet = true;
  }

  _set(state) {
    if (this.state === state) return;
    this.state = state;
    if (state === 'active' && !this.answeredAt) this.answeredAt = Date.now();
    this.client.emit('call', { call: this });
  }

  dialogParams(extra = {}) {
    return {
      callID: this.callID,
      destination_number: this.params.destination_number || '',
      caller_id_name: this.client.options.displayName || this.client.user,
      caller_id_number: this.client.user,
      remote_caller_id_name: this.params.remote_caller_id_name || 'Outbound Call',
      remote_caller_id_number: this.params.destination_number || '',
      useVideo: false, useStereo: false, screenShare: false, useCamera: false,
      useMic: 'any', useSpeak: 'any', tag: 'webcam', login: this.client.login, videoParams: {},
      ...extra,
    };
  }

  async answer() {
    this._set('answering');
    const sdp = await this._answerOffer(this.params.sdp);
    await this.client.call('verto.answer', {
      sdp, dialogParams: this.dialogParams({ callee_id_name: this.client.user, callee_id_number: this.client.user }),
    });
    this._set('active');
  }

  async hangup(cause) {
    if (this.state === 'ended') return;
    const params = { dialogParams: { callID: this.callID } };
    if (cause) params.cause = cause;
    this._end(cause || 'NORMAL_CLEARING');
    try { await this.client.call('verto.bye', params); } catch (e) { /* already gone */ }
  }

  async dtmf(digits) {
    await this.client.call('verto.info', { dtmf: digits, dialogParams: { callID: this.callID } });
  }

  async toggleHold() {
    const reply = await this.client.call('verto.modify', { action: this.held ? 'unhold' : 'hold', dialogParams: { callID: this.callID } });
    this.held = reply.holdState === 'held';
    this._set(this.held ? 'held' : 'active');
    return this.held;
  }

  async transfer(destination) {
    return this.client.call('verto.modify', { action: 'transfer', destination, dialogParams: { callID: this.callID } });
  }

  setMuted(muted) {
    this.muted = muted;
    if (this.pc) this.pc.getSenders().forEach((s) => { if (s.track) s.track.enabled = !muted; });
  }

  async stats() {
    const out = { packetsReceived: 0, packetsSent: 0, bytesReceived: 0, connectionState: this.pc ? this.pc.connectionState : 'none' };
    if (!this.pc) return out;
    (await this.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') { out.packetsReceived += s.packetsReceived || 0; out.bytesReceived += s.bytesReceived || 0; }
      if (s.type === 'outbound-rtp' && s.kind === 'audio') out.packetsSent += s.packetsSent || 0;
    });
    return out;
  }

  _end(cause) {
    if (this.pc) { this.pc.close(); this.pc = null; }
    this.cause = cause;
    this._set('ended');
    this.client._forget(this);
  }
}

// The connection: one WebSocket, a sessid kept across reconnects, and the calls.
export class VertoClient {
  constructor(options) {
    this.options = options;       // {url, user, password, domain, displayName}
    this.user = options.user;
    this.login = `${options.user}@${options.domain}`;
    this.sessid = options.sessid || uuid();
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.calls = new Map();
    this.listeners = new Map();
    this.stream = null;
    this.loggedIn = false;
    this.closing = false;
    this.punted = false;
    this.attempt = 0;
  }

  on(name, fn) { (this.listeners.get(name) || this.listeners.set(name, []).get(name)).push(fn); }
  emit(name, detail) { (this.listeners.get(name) || []).forEach((fn) => fn(detail)); }

  async microphone() {
    if (this.stream && this.stream.getAudioTracks().some((t) => t.readyState === 'live')) return this.stream;
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    } catch (error) {
      const denied = error && (error.name === 'NotAllowedError' || error.name === 'SecurityError');
      const err = new Error(denied ? 'Microphone access was denied' : `No microphone: ${error.message || error.name}`);
      err.media = true;
      throw err;
    }
    return this.stream;
  }

  connect() {
    this.closing = false;
    this.emit('connection', { state: this.attempt ? 'reconnecting' : 'connecting' });
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.options.url);
      this.ws = ws;
      let opened = false;
      ws.onopen = async () => {
        opened = true;
        try {
          await this._login();
          this.attempt = 0;
          resolve();
        } catch (error) {
          this.closing = true;
          ws.close();
          reject(error);
        }
      };
      ws.onmessage = (event) => this._receive(event.data);
      ws.onclose = (event) => {
        this.loggedIn = false;
        for (const [, waiter] of this.pending) waiter.reject(new Error('connection closed'));
        this.pending.clear();
        if (!opened) reject(new Error('Cannot reach the server'));
        this.emit('connection', { state: 'down', code: event.code });
        if (!this.closing && !this.punted && opened) this._reconnect();
      };
    });
  }

  _reconnect() {
    const delay = RECONNECT_DELAYS[Math.min(this.attempt, RECONNECT_DELAYS.length - 1)];
    this.attempt += 1;
    this.emit('connection', { state: 'reconnecting', attempt: this.attempt });
    setTimeout(() => {
      if (this.closing) return;
      this.connect().catch(() => { if (!this.closing && !this.punted) this._reconnect(); });
    }, delay);
  }

  async _login() {
    // The first login goes without credentials, as verto.js does, and gets -32000.
    try {
      await this.call('login', {});
    } catch (error) {
      if (error.code !== -32000) throw error;
    }
    await this.call('login', { login: this.login, passwd: this.options.password, loginParams: {}, userVariables: {} });
    this.loggedIn = true;
    this.emit('connection', { state: 'ready' });
  }

  disconnect() {
    this.closing = true;
    for (const call of [...this.calls.values()]) call.hangup();
    if (this.ws) this.ws.close(1000, 'sign out');
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
  }

  // Test hook and "network lost" simulation: drop the socket, keep everything else.
  dropSocket() { if (this.ws) this.ws.close(4000, 'dropped'); }

  call(method, params = {}) {
    const id = this.nextId++;
    const message = { jsonrpc: '2.0', method, params: { ...params, sessid: this.sessid }, id };
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return reject(new Error('not connected'));
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify(message));
    });
  }

  _send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  _receive(text) {
    let message;
    try { message = JSON.parse(text); } catch (e) { return; }
    for (const m of Array.isArray(message) ? message : [message]) {
      if (m.method) { this._request(m); continue; }
      const waiter = this.pending.get(m.id);
      if (!waiter) continue;
      this.pending.delete(m.id);
      if (m.error) waiter.reject(new VertoError(m.error)); else waiter.resolve(m.result || {});
    }
  }

  async _request(m) {
    // Every request of the server is acknowledged as verto.js does.
    this._send({ jsonrpc: '2.0', id: m.id, result: { method: m.method } });
    const p = m.params || {};
    const call = p.callID ? this.calls.get(p.callID) : null;
    try {
      switch (m.method) {
        case 'verto.clientReady': {
          // Calls the switch did not re-attach are gone (the detach timeout passed).
          const reattached = p.reattached_sessions || [];
          for (const c of [...this.calls.values()]) if (!reattached.includes(c.callID)) c._end('RECOVERY_ON_TIMER_EXPIRE');
          this.emit('ready', { reattached });
          break;
        }
        case 'verto.invite': {
          if ([...this.calls.values()].some((c) => c.state !== 'ended')) {
            this._send({ jsonrpc: '2.0', id: this.nextId++, method: 'verto.bye', params: { dialogParams: { callID: p.callID }, cause: 'USER_BUSY', sessid: this.sessid } });
            break;
          }
          const incoming = new VertoCall(this, p.callID, 'inbound', p);
          this.calls.set(p.callID, incoming);
          incoming._set('ringing');
          this.emit('incoming', { call: incoming });
          break;
        }
        case 'verto.media':
          if (call) { await call._setAnswer(p.sdp); call._set('early'); }
          break;
        case 'verto.answer':
          if (call) { await call._setAnswer(p.sdp); call._set('active'); }
          break;
        case 'verto.bye':
          if (call) call._end(p.cause || 'NORMAL_CLEARING');
          break;
        case 'verto.attach':
          await this._attach(p);
          break;
        case 'verto.display':
          if (call) { call.params.display_name = p.display_name; call.params.display_number = p.display_number; this.emit('call', { call }); }
          break;
        case 'verto.info':
          if (call && p.dtmf) this.emit('dtmf', { call, digits: p.dtmf });
          break;
        case 'verto.punt':
          this.punted = true;
          this.emit('punt', {});
          break;
        case 'verto.event':
          this.emit('event', p);
          break;
        default:
          break;
      }
    } catch (error) {
      this.emit('error', { error });
    }
  }

  async _attach(p) {
    // After a reconnect the switch offers the call again; answer with a fresh peer connection.
    let call = this.calls.get(p.callID);
    if (!call) {
      call = new VertoCall(this, p.callID, p.display_direction === 'outbound' ? 'inbound' : 'outbound', p);
      this.calls.set(p.callID, call);
    }
    const sdp = await call._answerOffer(p.sdp);
    await this.call('verto.attach', { sdp, dialogParams: { callID: call.callID } });
    call._set(call.held ? 'held' : 'active');
    this.emit('reattached', { call });
  }

  async invite(destination) {
    const callID = uuid();
    const call = new VertoCall(this, callID, 'outbound', { destination_number: destination });
    this.calls.set(callID, call);
    call._set('trying');
    try {
      const pc = await call._peer();
      await pc.setLocalDescription(await pc.createOffer());
      await waitIce(pc);
      await this.call('verto.invite', { sdp: pc.localDescription.sdp, dialogParams: call.dialogParams() });
      if (call.state === 'trying') call._set('ringing');
    } catch (error) {
      call._end(error.data && error.data.cause ? error.data.cause : 'CALL_ERROR');
      throw error;
    }
    return call;
  }

  subscribe(channels) { return this.call('verto.subscribe', { eventChannel: channels }); }
  broadcast(channel, data) { return this.call('verto.broadcast', { eventChannel: channel, data }); }

  _forget(call) { this.calls.delete(call.callID); }
}
