//! Cookie names and flags.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

/// Cookie names and flags. Over HTTPS the names carry the `__Host-` prefix (which requires
/// `Secure`, `Path=/` and no `Domain`), so no subdomain can plant or read them.
#[derive(Clone, Copy, Debug)]
pub struct CookieConfig {
    pub secure: bool,
}

impl CookieConfig {
    pub fn access_name(&self) -> &'static str {
        if self.secure {
            "__Host-gonggu_access"
        } else {
            "gonggu_access"
        }
    }
    pub fn refresh_name(&self) -> &'static str {
        if self.secure {
            "__Host-gonggu_refresh"
        } else {
            "gonggu_refresh"
        }
    }
    pub fn csrf_name(&self) -> &'static str {
        if self.secure {
            "__Host-gonggu_csrf"
        } else {
            "gonggu_csrf"
        }
    }

    pub fn cookie(&self, name: &'static str, value: String, max_age: Option<time_compat::Duration>) -> Cookie<'static> {
        let mut c = Cookie::build((name, value)).path("/").http_only(true).secure(self.secure).same_site(SameSite::Lax).build();
        if let Some(age) = max_age {
            c.set_max_age(age);
        }
        c
    }

    pub fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut c = self.cookie(name, String::new(), None);
        c.make_removal();
        c
    }

    /// Cookies for a fresh login (or refresh): access for 15 minutes, refresh until the session's absolute end.
    pub fn session_cookies(&self, jar: CookieJar, access: String, refresh: String, refresh_secs: i64) -> CookieJar {
        jar.add(self.cookie(self.access_name(), access, Some(time_compat::Duration::seconds(15 * 60)))).add(self.cookie(
            self.refresh_name(),
            refresh,
            Some(time_compat::Duration::seconds(refresh_secs.max(0))),
        ))
    }

    /// A new random visitor id in the CSRF cookie (at first sight, login and logout), and the id.
    /// Lax like the session cookies: the id is worthless without the server's key, and a
    /// cross-site link must not make a new one under an open form.
    pub fn new_visitor(&self, jar: CookieJar) -> (CookieJar, String) {
        let id = crate::random_token(32);
        (jar.add(self.cookie(self.csrf_name(), id.clone(), None)), id)
    }

    pub fn clear_session(&self, jar: CookieJar) -> CookieJar {
        jar.add(self.removal(self.access_name())).add(self.removal(self.refresh_name()))
    }
}

/// `cookie` re-exports the `time` crate's Duration; name it once here.
pub mod time_compat {
    pub use time::Duration;
}
