//! The error type and the label rule are written out in both glue crates (so
//! each stands alone) and must stay identical: the FFI crate maps both the
//! same way.

use std::path::Path;

#[test]
fn error_and_label_modules_match_outpost_apple() {
    let android = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let apple = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ios/keychain/src");
    for module in ["error.rs", "label.rs"] {
        let ours = std::fs::read_to_string(android.join(module)).unwrap();
        let theirs = std::fs::read_to_string(apple.join(module)).unwrap();
        assert!(
            ours == theirs,
            "android/keystore/src/{module} and ios/keychain/src/{module} differ"
        );
    }
}
