// The caption page: connects to the meeting's event stream and keeps the view and the settings in step.
// The stream is Server-Sent Events: the browser reconnects by itself and sends Last-Event-ID, and the server
// replays exactly what was missed.
import { applyLook, fillForm, fromUrl, load, readForm, save } from './settings.js';
import { CaptionView } from './view.js';

const root = document.documentElement;
const params = new URLSearchParams(location.search);
const overlay = params.get('overlay') === '1';
if (overlay) root.classList.add('overlay');
let settings = overlay ? fromUrl(params) : load();
applyLook(root, settings);
const view = new CaptionView(document, settings);
const status = document.getElementById('status');
const form = document.getElementById('settings');
const languageSelect = document.getElementById('language');

function languageName(code) {
  try {
    return new Intl.DisplayNames([navigator.language, 'en'], { type: 'language' }).of(code) ?? code;
  } catch {
    return code;
  }
}

function offerLanguages(languages) {
  for (const code of languages) {
    if ([...languageSelect.options].some((option) => option.value === code)) continue;
    const option = document.createElement('option');
    option.value = code;
    option.textContent = languageName(code);
    languageSelect.append(option);
  }
  if (!overlay) fillForm(form, settings);
}

if (!overlay) {
  fillForm(form, settings);
  form.addEventListener('submit', (event) => event.preventDefault());
  form.addEventListener('change', () => {
    settings = readForm(form);
    save(settings);
    applyLook(root, settings);
    view.setSettings(settings);
  });
}

const stream = new EventSource(`${location.pathname.replace(/\/+$/, '')}/events`);
const setStatus = (text, state) => {
  status.textContent = text;
  root.dataset.connection = state;
};
const data = (event) => JSON.parse(event.data);

stream.addEventListener('meta', (event) => {
  const meta = data(event);
  offerLanguages(meta.languages);
  setStatus(meta.ended ? 'The meeting has ended.' : 'Live', meta.ended ? 'ended' : 'live');
});
stream.addEventListener('ready', () => view.goLive());
for (const kind of ['final', 'translation', 'notice']) stream.addEventListener(kind, (event) => view.entry(data(event)));
stream.addEventListener('partial', (event) => view.partial(data(event)));
stream.addEventListener('clear', (event) => view.clear(data(event).speakerId));
stream.addEventListener('end', (event) => {
  view.entry(data(event));
  stream.close();
  setStatus('The meeting has ended.', 'ended');
});
stream.addEventListener('error', () => {
  if (stream.readyState === EventSource.CLOSED) setStatus('This link has expired or is not valid. Run /captions in Discord for a new one.', 'closed');
  else setStatus('Reconnecting…', 'reconnecting');
});
