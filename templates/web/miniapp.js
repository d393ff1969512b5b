// Inside Telegram only: apply the Mini App's theme, show its back button, and hand the
// signed initData to the server (it counts the read; on a link-less page it grants one).
// Telegram passes both in the URL fragment; telegram-web-app.js is not loaded (no third
// party), but window.Telegram.WebApp is used when the client provides it.
(function () {
  var root = document.documentElement, store = window.sessionStorage;
  var hash = new URLSearchParams(location.hash.slice(1));
  var data = hash.get("tgWebAppData"), theme = hash.get("tgWebAppThemeParams");
  try {
    if (data) { store.setItem("tgData", data); } else { data = store.getItem("tgData"); }
    if (theme) { store.setItem("tgTheme", theme); } else { theme = store.getItem("tgTheme"); }
  } catch (e) { /* storage off: this page only */ }
  var app = window.Telegram && window.Telegram.WebApp;
  if (!data && app && app.initData) { data = app.initData; }
  if (!data) { return; }
  var names = {bg_color: "--bg", text_color: "--text", hint_color: "--hint",
               link_color: "--link", secondary_bg_color: "--card"};
  try {
    var colors = JSON.parse(theme || "{}");
    for (var key in names) {
      if (/^#[0-9a-f]{6}$/i.test(colors[key] || "")) { root.style.setProperty(names[key], colors[key]); }
    }
  } catch (e) { /* a malformed theme keeps the page's colours */ }
  var back = function () { history.length > 1 ? history.back() : location.assign(root.dataset.home); };
  if (app && app.BackButton) {
    app.BackButton.show(); app.BackButton.onClick(back);
  } else {
    var event = JSON.stringify({is_visible: true});
    if (window.TelegramWebviewProxy) {
      window.TelegramWebviewProxy.postEvent("web_app_setup_back_button", event);
    } else if (window.parent !== window) {
      window.parent.postMessage(JSON.stringify({eventType: "web_app_setup_back_button",
        eventData: {is_visible: true}}), "https://web.telegram.org");
    }
    window.Telegram = window.Telegram || {};
    window.Telegram.WebView = {receiveEvent: function (type) { if (type === "back_button_pressed") { back(); } }};
    window.addEventListener("message", function (e) {
      try { if (e.origin === "https://web.telegram.org" && JSON.parse(e.data).eventType === "back_button_pressed") { back(); } } catch (x) { /* not ours */ }
    });
  }
  if (!root.dataset.read) { return; }
  fetch(root.dataset.read, {method: "POST", body: data, credentials: "omit",
                            headers: {"Content-Type": "text/plain"}})
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (j) { if (j && j.href && root.dataset.gate) { location.replace(j.href); } })
    .catch(function () { /* reading works without it */ });
})();
