// DOM helpers of the dashboard. Every value from the API goes into the page as text (Node.append of strings,
// textContent) or as an attribute the code chose: never as HTML, so markup or script inside event data stays inert.

/**
 * Creates an element. `props`: `class`, `text`, `on<event>` handlers, anything else becomes an attribute.
 * Children are nodes or values shown as text.
 * @param {string} tag
 * @param {Record<string, unknown>} [props]
 * @param {...unknown} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = String(value);
    else if (key === 'text') el.textContent = String(value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  add(el, children);
  return el;
}

/** Appends children: nodes as they are, everything else as text. */
export function add(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces an element's content. */
export function show(el, ...children) {
  el.replaceChildren();
  add(el, children);
}

/** JSON as indented text in a <pre>. */
export function json(value, props = {}) {
  return h('pre', { class: 'json', ...props }, JSON.stringify(value, null, 2));
}

/** A table from a header and rows of cells (nodes or text). */
export function table(header, rows, props = {}) {
  return h(
    'table',
    props,
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        header.map((c) => h('th', {}, c)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.length === 0
        ? h('tr', {}, h('td', { colspan: header.length, class: 'empty' }, 'none'))
        : rows.map((r) =>
            r instanceof Node
              ? r
              : h(
                  'tr',
                  {},
                  r.map((c) => h('td', {}, c)),
                ),
          ),
    ),
  );
}

const SVG = 'http://www.w3.org/2000/svg';

/** A small line chart of numbers (oldest first), scaled to its largest value. */
export function sparkline(values, label, { width = 160, height = 36 } = {}) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map(
    (v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`,
  );
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', points.join(' '));
  line.setAttribute('fill', 'none');
  line.setAttribute('class', 'spark-line');
  svg.append(line);
  return svg;
}

/** Seconds as a short duration: 42 s, 3.5 min, 2.1 h. */
export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return '0 s';
  if (seconds < 90) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function when(value) {
  if (value === null || value === undefined) return '—';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toISOString().replace('T', ' ').replace('Z', '');
}

/** A link inside the dashboard: `#/…` only, built from encoded parts. */
export function link(text, ...parts) {
  return h('a', { href: `#/${parts.map((p) => encodeURIComponent(String(p))).join('/')}` }, text);
}

/** A button that runs an async action, shows its outcome and is disabled while it runs. */
export function action(label, run, props = {}) {
  const button = h('button', { type: 'button', ...props }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await run();
    } catch (error) {
      notify(error instanceof Error ? error.message : String(error), true);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** A short message at the top of the view. */
export function notify(message, isError = false) {
  const box = document.getElementById('notice') ?? h('div', { id: 'notice', role: 'status' });
  box.className = isError ? 'notice error' : 'notice';
  box.textContent = message;
  if (!box.isConnected) document.body.insertBefore(box, document.getElementById('view'));
}
