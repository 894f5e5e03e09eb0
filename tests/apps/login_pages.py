"""The pages the login apps share (tests/apps/flask_login_app.py, django_login_app.py).

* ``CHAT_PAGE``: socket.io-client 4.x connects same-origin (``?transport=websocket`` for
  WebSocket only) and reports in ``window.__result`` the ``welcome`` the server sent from
  ``on_open``, the answer to ``whoami``, or its ``connect_error``;
* ``CHAT06_PAGE``: the socket.io 0.6 client (WebSocket unless ``?transport=``) reports the
  messages it got: the JSON message ``{"name": "welcome", "args": [...]}``, then the answer
  to the message ``whoami``;
* ``CLIENT_V4``, ``CLIENT_06``: the real clients' files the apps serve.
"""
import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_MODULES = os.path.join(REPO_ROOT, "node_modules")
CLIENT_V4 = os.path.join(NODE_MODULES, "socket.io-client", "dist", "socket.io.min.js")
CLIENT_06 = os.path.join(NODE_MODULES, "socket.io", "support", "socket.io-client", "socket.io.js")

CHAT_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><script src="/socket.io.v4.js"></script></head><body>
<script>
  var params = new URLSearchParams(location.search);
  var result = window.__result = {};
  var options = {reconnection: false};
  if (params.get('transport')) options.transports = [params.get('transport')];
  var socket = io(options);
  socket.on('welcome', function (welcome) {
    result.welcome = welcome;
    socket.emit('whoami', function (name) {
      result.whoami = name;
      socket.disconnect();
      window.__done = true;
    });
  });
  socket.on('connect_error', function (err) {
    result.connectError = err.message;
    window.__done = true;
  });
</script></body></html>
"""

CHAT06_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><script src="/socket.io.js"></script></head><body>
<script>
  var params = new URLSearchParams(location.search);
  var result = window.__result = {messages: []};
  var socket = new io.Socket(location.hostname, {
    port: location.port, transports: [params.get('transport') || 'websocket'],
    rememberTransport: false, reconnect: false});
  socket.on('message', function (message) {
    result.messages.push(message);
    if (result.messages.length === 1) socket.send('whoami');
    else { result.transport = socket.transport.type; window.__done = true; }
  });
  socket.on('disconnect', function () { result.disconnected = true; window.__done = true; });
  socket.connect();
</script></body></html>
"""
