// Settings: switches (Wi-Fi, Bluetooth, airplane mode, dark theme, do not disturb), brightness, ringtone.
const SWITCHES = [["wifi", "Wi-Fi"], ["bluetooth", "Bluetooth"], ["airplane", "Airplane mode"], ["dark_theme", "Dark theme"], ["dnd", "Do not disturb"]];
device.register("settings", {
  label: "Settings", color: "#5f6368", start: "main",
  screens: {
    main: (s) => ({title: "Settings", body: SWITCHES.map(([key, name]) =>
      `<div class="row"><span class="main">${name}</span><input type="checkbox" class="tog" data-switch="1" data-act="toggle" data-arg="${key}" data-rid="settings/${key}" aria-label="${name}" ${s.settings[key] ? "checked" : ""}></div>`).join("")
      + `<div class="row" data-act="display" data-rid="settings/display"><span class="main">Display<div class="sub">Brightness ${s.settings.brightness}%</div></span></div>`
      + `<div class="row" data-act="sound" data-rid="settings/sound"><span class="main">Sound<div class="sub">Ringtone: ${esc(s.settings.ringtone)}</div></span></div>`}),
    display: (s) => ({title: "Display", body: `<div class="section">Brightness</div><div class="center">`
      + `<button data-act="bright" data-arg="-10" data-rid="settings/brightness_down">−</button>`
      + `<span class="value" data-rid="settings/brightness">${s.settings.brightness}%</span>`
      + `<button data-act="bright" data-arg="10" data-rid="settings/brightness_up">+</button></div>`}),
    sound: (s) => ({title: "Ringtone", body: s.ringtones.map(name =>
      `<div class="row" data-act="ringtone" data-arg="${esc(name)}" data-rid="settings/ringtone"><span class="main">${esc(name)}</span>${name === s.settings.ringtone ? "✓" : ""}</div>`).join("")}),
  },
  acts: {
    toggle: (s, p, key) => { s.settings[key] = !s.settings[key]; device.render(); },
    display: () => device.open("display"),
    sound: () => device.open("sound"),
    bright: (s, p, delta) => { s.settings.brightness = Math.max(0, Math.min(100, s.settings.brightness + Number(delta))); device.render(); },
    ringtone: (s, p, name) => { s.settings.ringtone = name; device.render(); },
  },
});
