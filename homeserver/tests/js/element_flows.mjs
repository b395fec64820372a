// What Element Web does with Lattice, through Element's own SDK
// (matrix-js-sdk from npm): favourites (room tags), a push gateway
// (pushers), the invite dialog (user directory), the space panel
// (hierarchy), and a password prompt finished on the fallback page.
// Run by homeserver/tests/api/js_sdk.rs with the server's URL; prints one
// line per check and exits non-zero on the first that fails.
import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

logger.setLevel("error");
const baseUrl = process.argv[2];
if (!baseUrl) throw new Error("usage: element_flows.mjs <homeserver URL>");

function check(name, condition, detail) {
  if (!condition) {
    console.error(`FAILED ${name}: ${JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok ${name} (${Math.round(performance.now())} ms)`);
}

async function register(name) {
  const client = sdk.createClient({ baseUrl });
  // Element registers with a dummy stage after the first 401.
  let session;
  try {
    await client.registerRequest({ username: name, password: "a long enough password" });
  } catch (e) {
    session = e.data?.session;
  }
  const done = await client.registerRequest({
    username: name,
    password: "a long enough password",
    auth: { type: "m.login.dummy", session },
  });
  return sdk.createClient({
    baseUrl,
    accessToken: done.access_token,
    userId: done.user_id,
    deviceId: done.device_id,
  });
}

const alice = await register("alice");
const bob = await register("bob");
await bob.setDisplayName("Bob Builder");

// Favourites: Element's room context menu.
const { room_id: roomId } = await alice.createRoom({ name: "Team", preset: "private_chat" });
await alice.invite(roomId, bob.getUserId());
await bob.joinRoom(roomId);
await alice.setRoomTag(roomId, "m.favourite", { order: 0.25 });
await alice.setRoomTag(roomId, "u.work", {});
let tags = await alice.getRoomTags(roomId);
check("tags are set", tags.tags["m.favourite"]?.order === 0.25 && "u.work" in tags.tags, tags);
await alice.deleteRoomTag(roomId, "u.work");
tags = await alice.getRoomTags(roomId);
check("a tag is removed", !("u.work" in tags.tags), tags);

// The synced client sees the favourite on the room, as the room list does.
alice.startClient({ initialSyncLimit: 5 });
await new Promise((resolve) => {
  const ready = (state) => {
    if (state === "PREPARED" || state === "SYNCING") {
      alice.off("sync", ready);
      resolve();
    }
  };
  alice.on("sync", ready);
});
const room = alice.getRoom(roomId);
check("sync carries the tags", room?.tags?.["m.favourite"]?.order === 0.25, room?.tags);
alice.stopClient();

// Push: what Element's notification settings register.
await alice.setPusher({
  kind: "http",
  app_id: "im.vector.app.web",
  app_display_name: "Element",
  device_display_name: "Firefox",
  pushkey: "element-web-key",
  lang: "en",
  data: { url: "https://push.example.org/_matrix/push/v1/notify", format: "event_id_only" },
  append: false,
});
const pushers = await alice.getPushers();
check(
  "the pusher is listed",
  pushers.pushers.length === 1 && pushers.pushers[0].pushkey === "element-web-key",
  pushers,
);
await alice.setPusher({ kind: null, app_id: "im.vector.app.web", pushkey: "element-web-key" });
check("the pusher is removed", (await alice.getPushers()).pushers.length === 0, {});

// Element's settings page lists the account's addresses.
const { threepids } = await alice.getThreePids();
check("the address list is there, empty", Array.isArray(threepids) && threepids.length === 0, threepids);

// The invite dialog finds bob by his display name.
const found = await alice.searchUserDirectory({ term: "builder" });
check(
  "the directory finds a room mate",
  found.results.some((u) => u.user_id === bob.getUserId() && u.display_name === "Bob Builder"),
  found,
);

// The space panel.
const { room_id: spaceId } = await alice.createRoom({
  name: "Company",
  preset: "public_chat",
  creation_content: { type: "m.space" },
});
const { room_id: childId } = await alice.createRoom({ name: "Lobby", preset: "public_chat" });
const server = alice.getDomain();
await alice.sendStateEvent(spaceId, "m.space.child", { via: [server], suggested: true }, childId);
const hierarchy = await bob.getRoomHierarchy(spaceId, 10, 3, false);
const ids = hierarchy.rooms.map((r) => r.room_id);
check("the hierarchy lists the space and its child", ids[0] === spaceId && ids.includes(childId), hierarchy);
check(
  "the space is a space",
  hierarchy.rooms[0].room_type === "m.space" && hierarchy.rooms[0].children_state.length === 1,
  hierarchy.rooms[0],
);

// Element Call: "left the call" scheduled as a delayed state event, then
// sent at once, as when the user hangs up.
const callKey = `_${alice.getUserId()}_${alice.getDeviceId()}`;
const { delay_id: delayId } = await alice._unstable_sendDelayedStateEvent(
  roomId,
  { delay: 60_000 },
  "org.matrix.msc3401.call.member",
  {},
  callKey,
);
const delayed = await alice._unstable_getDelayedEvents();
check(
  "a delayed event is scheduled",
  delayed.delayed_events.some((e) => e.delay_id === delayId && e.state_key === callKey),
  delayed,
);
await alice._unstable_updateDelayedEvent(delayId, "restart");
await alice._unstable_updateDelayedEvent(delayId, "send");
const member = await alice.getStateEvent(roomId, "org.matrix.msc3401.call.member", callKey);
check("the delayed event was sent", JSON.stringify(member) === "{}", member);

// A password prompt finished on the fallback page, as Element does for
// stages it cannot show itself.
const phoneLogin = await sdk.createClient({ baseUrl }).loginRequest({
  type: "m.login.password",
  identifier: { type: "m.id.user", user: "alice" },
  password: "a long enough password",
});
let session;
try {
  await alice.deleteDevice(phoneLogin.device_id);
  check("deleting a device asks to authenticate", false, {});
} catch (e) {
  session = e.data?.session;
  check("deleting a device asks to authenticate", e.httpStatus === 401 && session, e.data);
}
const fallback = alice.getFallbackAuthUrl("m.login.password", session);
const page = await fetch(fallback);
check("the fallback page opens", page.status === 200 && (await page.text()).includes("password"), {});
const answered = await fetch(fallback, {
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams({ session, password: "a long enough password" }),
});
check("the fallback page takes the password", (await answered.text()).includes("auth-done"), {});
await alice.deleteDevice(phoneLogin.device_id, { session });
const devices = await alice.getDevices();
check(
  "the device is gone",
  !devices.devices.some((d) => d.device_id === phoneLogin.device_id),
  devices,
);
console.log("all done");
// The SDK leaves timers and keep-alive sockets open; the run is over.
process.exit(0);
