//! The Keychain calls (`SecItemUpdate`/`SecItemAdd`, `SecItemCopyMatching`,
//! `SecItemDelete`) on generic password items of service [`crate::SERVICE`].
//!
//! The item is found by class, service and account only; the value and the
//! accessibility are attributes set on add and on update (so an older item
//! made with other accessibility is brought in line when it is saved again).

use core_foundation::base::{CFType, TCFType};
use core_foundation::boolean::CFBoolean;
use core_foundation::data::CFData;
use core_foundation::dictionary::CFDictionary;
use core_foundation::string::{CFString, CFStringRef};
use core_foundation_sys::base::{CFTypeRef, OSStatus};
use security_framework_sys::access_control::kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly;
use security_framework_sys::base::{errSecItemNotFound, errSecSuccess};
use security_framework_sys::item::{
    kSecAttrAccount, kSecAttrService, kSecAttrSynchronizable, kSecClass, kSecClassGenericPassword, kSecReturnData,
    kSecValueData,
};
use security_framework_sys::keychain_item::{SecItemAdd, SecItemCopyMatching, SecItemDelete, SecItemUpdate};

use crate::error::{KeyStoreError, Result};
use crate::SERVICE;

#[link(name = "Security", kind = "framework")]
extern "C" {
    static kSecAttrAccessible: CFStringRef;
}

/// `errSecSuccess` and `errSecItemNotFound`, named so they can be patterns.
const SUCCESS: OSStatus = errSecSuccess;
const NOT_FOUND: OSStatus = errSecItemNotFound;

/// `errSecInteractionNotAllowed`: the device has not been unlocked since boot.
const ERR_SEC_INTERACTION_NOT_ALLOWED: OSStatus = -25308;

fn key(constant: CFStringRef) -> CFString {
    // SAFETY: the kSec* constants are valid, immortal CFStrings of the framework.
    unsafe { CFString::wrap_under_get_rule(constant) }
}

/// Class, service, account and "not synchronised": what identifies the item.
fn item_query(label: &str) -> Vec<(CFString, CFType)> {
    vec![
        (
            key(unsafe { kSecClass }),
            key(unsafe { kSecClassGenericPassword }).into_CFType(),
        ),
        (key(unsafe { kSecAttrService }), CFString::new(SERVICE).into_CFType()),
        (key(unsafe { kSecAttrAccount }), CFString::new(label).into_CFType()),
        (
            key(unsafe { kSecAttrSynchronizable }),
            CFBoolean::false_value().into_CFType(),
        ),
    ]
}

/// The value and its accessibility.
fn item_attributes(secret: &[u8]) -> Vec<(CFString, CFType)> {
    vec![
        (key(unsafe { kSecValueData }), CFData::from_buffer(secret).into_CFType()),
        (
            key(unsafe { kSecAttrAccessible }),
            key(unsafe { kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly }).into_CFType(),
        ),
    ]
}

fn status_error(what: &str, status: OSStatus) -> KeyStoreError {
    let message = security_framework::base::Error::from_code(status)
        .message()
        .unwrap_or_else(|| "unknown status".into());
    let text = format!("{what}: OSStatus {status} ({message})");
    if status == ERR_SEC_INTERACTION_NOT_ALLOWED {
        KeyStoreError::Unavailable(text)
    } else {
        KeyStoreError::Platform(text)
    }
}

pub(crate) fn save(label: &str, secret: &[u8]) -> Result<()> {
    let query = CFDictionary::from_CFType_pairs(&item_query(label));
    let attributes = CFDictionary::from_CFType_pairs(&item_attributes(secret));
    // SAFETY: both are valid CFDictionaries that outlive the call.
    let status = unsafe { SecItemUpdate(query.as_concrete_TypeRef(), attributes.as_concrete_TypeRef()) };
    match status {
        SUCCESS => Ok(()),
        NOT_FOUND => {
            let mut pairs = item_query(label);
            pairs.extend(item_attributes(secret));
            let item = CFDictionary::from_CFType_pairs(&pairs);
            // SAFETY: a valid CFDictionary; no result is asked for, so null is allowed.
            let status = unsafe { SecItemAdd(item.as_concrete_TypeRef(), std::ptr::null_mut()) };
            if status == SUCCESS {
                Ok(())
            } else {
                Err(status_error("SecItemAdd", status))
            }
        }
        other => Err(status_error("SecItemUpdate", other)),
    }
}

pub(crate) fn load(label: &str) -> Result<Option<Vec<u8>>> {
    let mut pairs = item_query(label);
    pairs.push((key(unsafe { kSecReturnData }), CFBoolean::true_value().into_CFType()));
    let query = CFDictionary::from_CFType_pairs(&pairs);
    let mut result: CFTypeRef = std::ptr::null();
    // SAFETY: a valid CFDictionary and a valid out-pointer; on success the
    // result is a +1 reference that is wrapped (and so released) below.
    let status = unsafe { SecItemCopyMatching(query.as_concrete_TypeRef(), &mut result) };
    match status {
        NOT_FOUND => return Ok(None),
        SUCCESS => {}
        other => return Err(status_error("SecItemCopyMatching", other)),
    }
    if result.is_null() {
        return Err(corrupt(label));
    }
    // SAFETY: a non-null +1 reference from a Copy call (create rule).
    let value = unsafe { CFType::wrap_under_create_rule(result) };
    let Some(data) = value.downcast_into::<CFData>() else {
        return Err(corrupt(label));
    };
    Ok(Some(data.bytes().to_vec()))
}

fn corrupt(label: &str) -> KeyStoreError {
    KeyStoreError::Corrupt {
        label: label.to_owned(),
        reason: "the Keychain item holds no data".into(),
    }
}

pub(crate) fn delete(label: &str) -> Result<()> {
    let query = CFDictionary::from_CFType_pairs(&item_query(label));
    // SAFETY: a valid CFDictionary that outlives the call.
    match unsafe { SecItemDelete(query.as_concrete_TypeRef()) } {
        SUCCESS | NOT_FOUND => Ok(()),
        other => Err(status_error("SecItemDelete", other)),
    }
}
