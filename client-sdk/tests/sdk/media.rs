//! Files: upload, download, thumbnails, and files sent into a room.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbImage};
use lattice_homeserver::testing::{Backend, TestServer};
use lattice_sdk::{
    Room,
    ruma::{
        api::client::room::create_room,
        events::room::{
            MediaSource,
            message::{MessageType, OriginalSyncRoomMessageEvent},
        },
    },
};
use tokio::sync::mpsc::unbounded_channel;

use crate::{
    backend_tests,
    common::{registered, sync_until},
};

backend_tests!(files_round_trip_and_reach_the_room);

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image).write_to(&mut out, ImageFormat::Png).expect("encode");
    out.into_inner()
}

async fn files_round_trip_and_reach_the_room(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = registered(&server, "alice").await;
    let bob = registered(&server, "bob").await;

    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let uri = alice.media().upload("application/octet-stream", None, bytes.clone()).await;
    let uri = uri.expect("uploaded");
    assert_eq!(bob.media().download(&uri).await.expect("downloaded"), bytes);

    let picture = png(640, 480);
    let uri = alice.media().upload("image/png", Some("p.png"), picture).await.expect("uploaded");
    let thumb = bob.media().thumbnail(&uri, 96, 96).await.expect("thumbnail");
    let thumb = image::load_from_memory(&thumb).expect("an image");
    assert!(thumb.width() <= 96 * 4 && thumb.width() < 640, "scaled down: {}", thumb.width());

    let mut request = create_room::v3::Request::new();
    request.invite = vec![bob.user_id().expect("id")];
    let room = alice.create_room(request).await.expect("room");
    bob.join_room_by_id_or_alias(room.room_id().as_str()).await.expect("joined");
    let (got, mut files) = unbounded_channel();
    bob.add_event_handler(move |event: OriginalSyncRoomMessageEvent, _: Room| {
        let got = got.clone();
        async move {
            if let MessageType::File(file) = event.content.msgtype {
                let _ = got.send(file);
            }
        }
    });
    let report = b"quarterly numbers".to_vec();
    room.send_file("report.txt", "text/plain", report.clone()).await.expect("file sent");
    let file = sync_until(&bob, &mut files).await;
    assert_eq!(file.body, "report.txt");
    let info = file.info.as_ref().expect("the file's size and type are given");
    assert_eq!((info.mimetype.as_deref(), info.size), (Some("text/plain"), Some(17u32.into())));
    let MediaSource::Plain(uri) = file.source else { panic!("an unencrypted file") };
    assert_eq!(bob.media().download(&uri).await.expect("downloaded"), report);
}
