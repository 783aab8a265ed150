// The phone's shell: the home screen, app navigation (a back stack), touch input (taps are
// clicks; a drag scrolls what is under it) and the hardware keys. Apps register screens
// (functions of the state returning HTML) and acts (what a tap on [data-act] does).
// All app state lives in device.state, which the env loads at reset and reads to check tasks.
const esc = s => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const device = {
  state: null, stack: [], apps: {}, order: [], swipedAt: -1e9,
  register(name, app) { this.apps[name] = app; this.order.push(name); },
  load(state) { this.state = state; this.stack = [{app: "home", screen: "home", params: {}}]; this.render(); },
  top() { return this.stack[this.stack.length - 1]; },
  where() { const t = this.top(); return {app: t.app, screen: t.screen, params: t.params}; },
  open(screen, params) { this.stack.push({app: this.top().app, screen, params: params || {}}); this.render(); },
  replace(screen, params) { const t = this.top(); this.stack[this.stack.length - 1] = {app: t.app, screen, params: params || {}}; this.render(); },
  launch(app) { this.stack.push({app, screen: this.apps[app].start, params: {}}); this.render(); },
  back() { if (this.stack.length > 1) this.stack.pop(); this.render(); },
  home() { this.stack = [this.stack[0]]; this.render(); },
  field(rid) { return this.top().params["field:" + rid] || ""; },
  input(rid, hint, extra) {
    return `<input data-rid="${rid}" placeholder="${esc(hint)}" value="${esc(this.field(rid))}" ${extra || ""}>`;
  },
  render() {
    const t = this.top();
    const view = t.app === "home" ? this.homeScreen() : this.apps[t.app].screens[t.screen](this.state, t.params);
    const title = view.title ? `<div class="bar"><span class="title" data-rid="${t.app}/appbar">${esc(view.title)}</span>${view.tools || ""}</div>` : "";
    document.getElementById("screen").innerHTML = title
      + `<div class="scroll" data-rid="${t.app}/scroll">${view.body}</div>` + (view.bottom ? `<div class="bottom">${view.bottom}</div>` : "");
  },
  homeScreen() {
    const icons = this.order.map(name => `<button class="icon" data-act="launch" data-arg="${name}" data-rid="home/${name}">`
      + `<span class="glyph" style="background:${this.apps[name].color}">${this.apps[name].label[0]}</span>${esc(this.apps[name].label)}</button>`).join("");
    return {title: "", body: `<div class="wall"><div class="clock">12:00</div><div class="grid">${icons}</div></div>`};
  },
  act(el) {
    const t = this.top();
    if (el.dataset.act === "launch") return this.launch(el.dataset.arg);
    if (el.dataset.act === "back") return this.back();
    this.apps[t.app].acts[el.dataset.act](this.state, t.params, el.dataset.arg, el);
  },
};
document.addEventListener("click", e => {
  if (performance.now() - device.swipedAt < 300) return;  // the click that ends a drag is not a tap
  const el = e.target.closest("[data-act]");
  if (el) device.act(el);
}, true);
document.addEventListener("input", e => {
  const el = e.target;
  if (el.dataset.rid) device.top().params["field:" + el.dataset.rid] = el.value;
});
document.addEventListener("keydown", e => {
  const el = e.target;
  if (e.key === "Enter" && el.dataset && el.dataset.enter) { e.preventDefault(); device.act({dataset: {act: el.dataset.enter, arg: el.dataset.arg}}); }
});
let drag = null;
document.addEventListener("mousedown", e => { drag = {x: e.clientX, y: e.clientY, el: e.target}; });
document.addEventListener("mouseup", e => {
  if (!drag) return;
  const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  if (Math.hypot(dx, dy) > 12) {
    device.swipedAt = performance.now();
    const box = (drag.el.closest && drag.el.closest(".scroll")) || document.querySelector(".scroll");
    if (box) box.scrollBy(-dx, -dy);
  }
  drag = null;
});
