// The reference client's own test files (reference/test/tests, unmodified), run by mocha against
// a realtime_fast mock server instead of api.openai.com.
//
// REALTIME_URL: the server to use (for example ws://127.0.0.1:8765/v1/realtime).
// REFERENCE_TESTS: comma-separated test files to run (default: api,client).
//
// Node's own WebSocket (node --experimental-websocket on Node 20) makes the reference client take
// its browser path, the only one that honours a URL; connections it opens to the service's URL
// are sent to REALTIME_URL instead, with the same path, query and subprotocols.
const target = process.env.REALTIME_URL;
if (!target) {
  throw new Error('Set REALTIME_URL to the server to test against.');
}
if (typeof globalThis.WebSocket !== 'function') {
  throw new Error('This Node has no global WebSocket: run it with --experimental-websocket (Node 20).');
}
const SERVICE = 'wss://api.openai.com/v1/realtime';
const NodeWebSocket = globalThis.WebSocket;
globalThis.WebSocket = class RedirectedWebSocket extends NodeWebSocket {
  constructor(url, protocols) {
    const text = String(url);
    super(text.startsWith(SERVICE) ? target + text.slice(SERVICE.length) : text, protocols);
  }
};

const names = (process.env.REFERENCE_TESTS || 'api,client').split(',');
for (const name of names) {
  const tests = await import(`./reference/test/tests/${name.trim()}.js`);
  await tests.run({ debug: false });
}
