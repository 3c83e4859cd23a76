// The dashboard's shell: sign-in with the admin token, navigation by URL hash, and one live connection whose
// overviews every view can follow (kept as a short history for the charts).

import { api, live, onUnauthorized, token } from './api.js';
import { show } from './dom.js';
import * as contracts from './contracts.js';
import * as consumers from './consumers.js';
import * as overview from './overview.js';
import * as parked from './parked.js';
import * as replay from './replay.js';
import * as streams from './streams.js';

const events = { render: (root, params) => streams.renderEvent(root, params[0] ?? '') };
const VIEWS = { overview, streams, events, consumers, parked, replay, contracts };
/** Overviews kept for the charts: two minutes at the default interval. */
const HISTORY = 60;

const $ = (id) => document.getElementById(id);

/** What the views share: the latest overview, its history, and subscriptions to new ones. */
const state = {
  history: [],
  listeners: new Set(),
  latest() {
    return this.history.at(-1)?.overview;
  },
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  },
};

let stopLive = () => undefined;
let leaveView = () => undefined;

function setLive(text) {
  $('live').textContent = text;
  $('live').className = `live ${text}`;
}

function signedOut(message) {
  stopLive();
  leaveView();
  token.clear();
  state.history = [];
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('view').replaceChildren();
  $('login').hidden = false;
  $('login-error').textContent = message ?? '';
  $('token').focus();
}

function signedIn() {
  $('login').hidden = true;
  $('nav').hidden = false;
  $('logout').hidden = false;
  stopLive = live(
    {},
    {
      overview: (o) => {
        state.history.push({ at: Date.now(), overview: o });
        if (state.history.length > HISTORY) state.history.shift();
        for (const listener of state.listeners) listener(o);
      },
      problem: (p) => setLive(`store unreadable: ${p.code}`),
    },
    (s) => setLive(s),
  );
  route();
}

function route() {
  if (!$('login').hidden) return;
  leaveView();
  const [name = 'overview', ...params] = location.hash
    .replace(/^#\/?/, '')
    .split('/')
    .map((p) => decodeURIComponent(p));
  const view = VIEWS[name] ?? overview;
  for (const a of $('nav').querySelectorAll('a')) {
    a.classList.toggle('active', a.getAttribute('href') === `#/${name}`);
  }
  const root = $('view');
  show(root);
  document.getElementById('notice')?.remove();
  leaveView = view.render(root, params, state) ?? (() => undefined);
}

onUnauthorized(() =>
  signedOut('The server refused the token (EVENTLANE_UNAUTHORIZED). Check it and sign in again.'),
);

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  token.set($('token').value.trim());
  $('token').value = '';
  try {
    await api('overview');
    signedIn();
  } catch (error) {
    if (error.status !== 401) signedOut(`The server cannot be read: ${error.message}`);
  }
});
$('logout').addEventListener('click', () => signedOut());
window.addEventListener('hashchange', route);

if (token.get() === '') signedOut();
else signedIn();
