//! Before `Native.nativeInit` every call is `Unavailable` (labels are still
//! checked first). Its own test binary, so no other test has initialised it.

use outpost_android::KeyStoreError;

#[test]
fn every_call_is_unavailable_until_native_init() {
    for outcome in [
        outpost_android::save("hub", b"secret").map(|_| None),
        outpost_android::load("hub"),
        outpost_android::delete("hub").map(|_| None),
    ] {
        match outcome {
            Err(KeyStoreError::Unavailable(why)) => assert!(why.contains("nativeInit"), "{why}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    assert!(matches!(
        outpost_android::load("../hub"),
        Err(KeyStoreError::BadLabel(_))
    ));
}
