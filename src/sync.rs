//! Locks that outlive a panic. A panic while one is held is a bug in mockrig, answered with a
//! 500 by the request pipeline; every structure behind these locks is changed in single steps
//! (build the new value, then store it), so what a panicking holder leaves behind is the state
//! after its last completed step, and serving goes on with it rather than with a dead server.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}
