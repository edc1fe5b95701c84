// Display settings: from the URL in overlay mode (an OBS browser source has no controls), otherwise from the
// form, remembered in localStorage.
const KEY = 'parley.captions.settings';

/** @typedef {{ language: string, showOriginal: boolean, size: number, theme: 'dark'|'light', contrast: boolean, lines: number }} Settings */

/** @type {Settings} */
export const DEFAULTS = { language: '', showOriginal: false, size: 20, theme: 'dark', contrast: false, lines: 0 };

const clampInt = (value, min, max, fallback) => {
  const n = Number.parseInt(String(value), 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
};

/** @returns {Settings} */
function sanitize(raw) {
  return {
    language: typeof raw.language === 'string' && /^[a-z]{2,3}(-[A-Za-z]{2,4})?$/.test(raw.language) ? raw.language : '',
    showOriginal: raw.showOriginal === true || raw.showOriginal === '1',
    size: clampInt(raw.size, 12, 120, DEFAULTS.size),
    theme: raw.theme === 'light' ? 'light' : 'dark',
    contrast: raw.contrast === true || raw.contrast === '1',
    lines: clampInt(raw.lines, 0, 50, DEFAULTS.lines),
  };
}

/** Overlay settings from `?overlay=1&lang=es&size=48&lines=3&original=1`. */
export function fromUrl(params) {
  return sanitize({
    language: params.get('lang') ?? '',
    showOriginal: params.get('original') ?? '',
    size: params.get('size') ?? 48,
    theme: 'dark',
    contrast: params.get('contrast') ?? '',
    lines: params.get('lines') ?? 3,
  });
}

/** @returns {Settings} */
export function load() {
  try {
    return sanitize({ ...DEFAULTS, ...JSON.parse(localStorage.getItem(KEY) ?? '{}') });
  } catch {
    return { ...DEFAULTS };
  }
}

/** @param {Settings} settings */
export function save(settings) {
  try {
    localStorage.setItem(KEY, JSON.stringify(settings));
  } catch {
    // Private windows may refuse storage; the settings still apply to this page.
  }
}

/** Shows `settings` in the form. */
export function fillForm(form, settings) {
  form.elements.language.value = settings.language;
  form.elements.showOriginal.checked = settings.showOriginal;
  form.elements.size.value = String(settings.size);
  form.elements.theme.value = settings.theme;
  form.elements.contrast.checked = settings.contrast;
  form.elements.lines.value = String(settings.lines);
}

/** @returns {Settings} */
export function readForm(form) {
  return sanitize({
    language: form.elements.language.value,
    showOriginal: form.elements.showOriginal.checked,
    size: form.elements.size.value,
    theme: form.elements.theme.value,
    contrast: form.elements.contrast.checked,
    lines: form.elements.lines.value,
  });
}

/** Applies the look (size, theme, contrast) to the document. */
export function applyLook(root, settings) {
  root.style.setProperty('--caption-size', `${settings.size}px`);
  root.dataset.theme = settings.theme;
  root.dataset.contrast = settings.contrast ? 'high' : 'normal';
}
