// matrix-appservice-bridge (npm), the bridge framework many Node bridges
// are built on, running a small service against Lattice: its ghost
// registers, joins and speaks; the homeserver pushes a user's message to
// it; a user query makes a user. Run by appservice/tests/appservice.rs
// with: <homeserver URL> <registration file> <port> <room id> <user token>.
// Prints one line per check and exits non-zero on the first that fails.
const { Bridge, Logger } = require("matrix-appservice-bridge");

Logger.configure({ console: "error" });
const [homeserverUrl, registration, port, roomId, userToken] = process.argv.slice(2);
if (!userToken) throw new Error("usage: bridge.cjs <hs url> <registration> <port> <room id> <token>");

function check(name, condition, detail) {
  if (!condition) {
    console.error(`FAILED ${name}: ${JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok ${name}`);
}

const pushed = [];
let onPush = () => {};
function pushedEvent(matches) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("nothing pushed in 30 s")), 30000);
    onPush = () => {
      const found = pushed.find(matches);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    onPush();
  });
}

async function asUser(method, path, body) {
  const answer = await fetch(`${homeserverUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${userToken}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  return { status: answer.status, body: await answer.json() };
}

async function main() {
  const bridge = new Bridge({
    homeserverUrl,
    domain: "localhost",
    registration,
    disableStores: true,
    controller: {
      onEvent(request) {
        pushed.push(request.getData());
        onPush();
      },
      onEphemeralEvent(request) {
        pushed.push(request.getData());
        onPush();
      },
      onUserQuery(user) {
        return user.localpart === "js_known" ? {} : null;
      },
    },
  });
  await bridge.run(Number(port), undefined, "127.0.0.1");

  const ghost = bridge.getIntent("@js_ghost:localhost");
  await ghost.join(roomId);
  const sent = await ghost.sendText(roomId, "hello from matrix-appservice-bridge");
  check("the ghost registered, joined and spoke", sent && sent.event_id, sent);
  await ghost.setDisplayName("Ghost (js)");
  check("the ghost named itself", true);

  const txn = `js-${Date.now()}`;
  const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`;
  const said = await asUser("PUT", path, { msgtype: "m.text", body: "hello bridge" });
  check("the user spoke", said.status === 200, said);
  const heard = await pushedEvent(
    (e) => e.type === "m.room.message" && e.content && e.content.body === "hello bridge",
  );
  check("the homeserver pushed the user's message", heard.room_id === roomId, heard);

  const me = encodeURIComponent(heard.sender);
  const typing = await asUser("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/typing/${me}`, {
    typing: true,
    timeout: 30000,
  });
  check("the user typed", typing.status === 200, typing);
  const typed = await pushedEvent(
    (e) => e.type === "m.typing" && e.content && (e.content.user_ids || []).includes(heard.sender),
  );
  check("the homeserver pushed the typing notice", typed.room_id === roomId, typed);

  const profile = await asUser("GET", `/_matrix/client/v3/profile/${encodeURIComponent("@js_known:localhost")}`);
  check("a user query made the user", profile.status === 200, profile);

  await bridge.close();
  console.log("all done");
  process.exit(0);
}

main().catch((error) => {
  console.error(`FAILED ${error.stack || error}`);
  process.exit(1);
});
