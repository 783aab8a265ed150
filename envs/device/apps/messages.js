// Messages: conversations, a conversation (reply, delete with confirmation) and a new message form.
const threadByName = (s, name) => s.threads.find(t => t.name.toLowerCase() === String(name).trim().toLowerCase());
function sendTo(s, name, text) {
  let t = threadByName(s, name);
  if (!t) { t = {name: name.trim(), unread: false, messages: []}; s.threads.unshift(t); }
  t.messages.push({me: true, text});
  s.threads = [t, ...s.threads.filter(x => x !== t)];
  return t;
}
device.register("messages", {
  label: "Messages", color: "#1a73e8", start: "list",
  screens: {
    list: (s) => ({title: "Messages", tools: `<button data-act="new" data-rid="messages/new">New</button>`,
      body: s.threads.map(t => `<div class="row ${t.unread ? "unread" : ""}" data-act="open" data-arg="${esc(t.name)}" data-rid="messages/thread">`
        + `<span class="main">${esc(t.name)}<div class="sub">${esc(t.messages.length ? t.messages[t.messages.length - 1].text : "")}</div></span></div>`).join("")
        || `<div class="section">No conversations</div>`}),
    thread: (s, p) => {
      const t = threadByName(s, p.name);
      return {title: t.name, tools: `<button class="danger" data-act="delete" data-rid="messages/delete">Delete</button>`,
        body: t.messages.map(m => `<div class="bubble ${m.me ? "me" : ""}">${esc(m.text)}</div>`).join(""),
        bottom: device.input("messages/text", "Message", 'data-enter="send"') + `<button data-act="send" data-rid="messages/send">Send</button>`};
    },
    confirm: (s, p) => ({title: "Delete conversation?", body: `<div class="big">Delete the conversation with ${esc(p.name)}?</div>`
      + `<div class="center"><button class="flat" data-act="back" data-rid="messages/cancel">Cancel</button><button class="danger" data-act="confirm" data-rid="messages/confirm">Delete</button></div>`}),
    compose: (s, p) => ({title: "New message", body: `<div class="form"><label class="lab">To</label>${device.input("messages/to", "Name")}`
      + `<label class="lab">Message</label>${device.input("messages/text", "Message", 'data-enter="send_new"')}`
      + (p.error ? `<div class="sub" data-rid="messages/error">${esc(p.error)}</div>` : "") + `</div>`,
      bottom: `<button data-act="send_new" data-rid="messages/send">Send</button>`}),
  },
  acts: {
    new: () => device.open("compose", {}),
    open: (s, p, name) => { threadByName(s, name).unread = false; device.open("thread", {name}); },
    send: (s, p) => { const text = device.field("messages/text").trim(); if (!text) return; sendTo(s, p.name, text); p["field:messages/text"] = ""; device.render(); },
    send_new: (s, p) => {
      const to = device.field("messages/to").trim(), text = device.field("messages/text").trim();
      if (!to || !text) { p.error = "Fill in the recipient and the message"; return device.render(); }
      const t = sendTo(s, to, text);
      device.replace("thread", {name: t.name});
    },
    delete: (s, p) => device.open("confirm", {name: p.name}),
    confirm: (s, p) => { const t = threadByName(s, p.name); s.threads = s.threads.filter(x => x !== t); device.stack.splice(-2, 2); device.render(); },
  },
});
