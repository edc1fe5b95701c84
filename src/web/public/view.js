// The caption list: finals (and their translations) in order, newest at the bottom, then each speaker's partial.
// All text is set with textContent: captions and names are untrusted and never parsed as HTML.

/** Number of speaker colours in style.css (`.spk-0` … `.spk-7`), each meeting WCAG AA contrast in every theme. */
const COLOURS = 8;
/** Announcements kept in the live region. */
const ANNOUNCED_KEPT = 5;

/** A speaker's colour class, the same for every viewer and every page load. */
export function colourOf(speakerId) {
  let hash = 0;
  for (const char of String(speakerId)) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return `spk-${hash % COLOURS}`;
}

function el(doc, tag, className, text) {
  const node = doc.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class CaptionView {
  #doc;
  #list;
  #partialBox;
  #announcer;
  #settings;
  /** @type {Map<string, { entry: any, translations: Map<string, string>, li: HTMLElement }>} */
  #turns = new Map();
  /** @type {Map<string, HTMLElement>} */
  #partials = new Map();
  #maxSeq = 0;
  #live = false;

  constructor(doc, settings) {
    this.#doc = doc;
    this.#list = doc.getElementById('lines');
    this.#partialBox = doc.getElementById('partials');
    this.#announcer = doc.getElementById('announcer');
    this.#settings = settings;
  }

  /** Entries from now on are new to this page, not scrollback: announce them. */
  goLive() {
    this.#live = true;
  }

  setSettings(settings) {
    const languageChanged = settings.language !== this.#settings.language || settings.showOriginal !== this.#settings.showOriginal;
    this.#settings = settings;
    if (languageChanged) for (const turn of this.#turns.values()) this.#fill(turn);
    this.#limitLines();
    this.#scroll(true);
  }

  /** A kept entry (final, translation, notice, end), in sequence order; one already seen is ignored. */
  entry(entry) {
    if (typeof entry.seq !== 'number' || entry.seq <= this.#maxSeq) return;
    this.#maxSeq = entry.seq;
    const stick = this.#atBottom();
    if (entry.kind === 'final') this.#final(entry);
    else if (entry.kind === 'translation') this.#translation(entry);
    else if (entry.kind === 'notice' && !this.#doc.documentElement.classList.contains('overlay')) this.#append(el(this.#doc, 'li', `line notice notice-${entry.level}`, entry.text), entry.seq);
    this.#limitLines();
    this.#scroll(stick);
  }

  partial(partial) {
    const stick = this.#atBottom();
    let node = this.#partials.get(partial.speakerId);
    if (node === undefined) {
      node = el(this.#doc, 'div', `line partial ${colourOf(partial.speakerId)}`);
      node.dataset.speaker = partial.speakerId;
      node.append(el(this.#doc, 'span', 'name', partial.name), el(this.#doc, 'span', 'text'));
      this.#partials.set(partial.speakerId, node);
      this.#partialBox.append(node);
    }
    node.dataset.turn = partial.turnId;
    node.querySelector('.text').textContent = partial.text;
    this.#scroll(stick);
  }

  clear(speakerId) {
    this.#partials.get(speakerId)?.remove();
    this.#partials.delete(speakerId);
  }

  #final(entry) {
    const partial = this.#partials.get(entry.speakerId);
    if (partial !== undefined && partial.dataset.turn === entry.turnId) this.clear(entry.speakerId);
    const li = el(this.#doc, 'li', `line final ${colourOf(entry.speakerId)}`);
    li.dataset.turn = entry.turnId;
    li.append(el(this.#doc, 'span', 'name', entry.name), el(this.#doc, 'span', 'text'), el(this.#doc, 'span', 'original'));
    const turn = { entry, translations: new Map(), li };
    this.#turns.set(entry.turnId, turn);
    this.#fill(turn);
    this.#append(li, entry.seq);
    if (this.#live && this.#settings.language === '') this.#announce(`${entry.name}: ${entry.text}`);
  }

  #translation(entry) {
    const turn = this.#turns.get(entry.turnId);
    if (turn === undefined) return;
    turn.translations.set(entry.language, { text: entry.text, failed: entry.failed === true });
    this.#fill(turn);
    if (this.#live && entry.language === this.#settings.language) this.#announce(`${turn.entry.name}: ${entry.text}`);
  }

  /** Shows a turn in the chosen language; the original until its translation arrives. */
  #fill(turn) {
    const { language, showOriginal } = this.#settings;
    const result = language === '' ? undefined : turn.translations.get(language);
    // A failed translation shows the original, marked, instead of waiting for ever.
    const translated = result === undefined || result.failed ? undefined : result.text;
    const text = turn.li.querySelector('.text');
    const original = turn.li.querySelector('.original');
    text.textContent = translated ?? turn.entry.text;
    text.lang = translated === undefined ? (turn.entry.language ?? '') : language;
    turn.li.classList.toggle('pending', language !== '' && result === undefined);
    turn.li.classList.toggle('untranslated', result?.failed === true);
    original.textContent = translated !== undefined && showOriginal ? turn.entry.text : '';
    original.hidden = original.textContent === '';
  }

  #append(li, seq) {
    li.dataset.seq = String(seq);
    this.#list.append(li);
  }

  #announce(text) {
    this.#announcer.append(el(this.#doc, 'p', '', text));
    while (this.#announcer.childElementCount > ANNOUNCED_KEPT) this.#announcer.firstElementChild.remove();
  }

  /** With a line limit, only the newest lines are shown. */
  #limitLines() {
    const max = this.#settings.lines;
    const items = this.#list.children;
    const firstShown = max > 0 ? Math.max(0, items.length - max) : 0;
    // Only lines near the boundary change state on an append; a settings change may touch them all.
    for (let i = items.length - 1; i >= 0; i--) {
      const hide = i < firstShown;
      if (items[i].hidden === hide && hide) break;
      items[i].hidden = hide;
    }
  }

  #atBottom() {
    const scroller = this.#doc.scrollingElement;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  /** Keeps the newest line in view, unless the reader has scrolled up to read back. */
  #scroll(stick) {
    if (!stick) return;
    const scroller = this.#doc.scrollingElement;
    scroller.scrollTop = scroller.scrollHeight;
  }
}
