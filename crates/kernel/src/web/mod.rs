//! The web shell shared by every context's pages: the layout, embedded assets, cookie
//! sessions with transparent refresh, CSRF protection, the one page-error type, where a
//! redirect may go, and the form widgets and formats every page uses.

mod assets;
mod cookies;
mod csrf;
mod format;
mod forms;
mod layout;
mod next;
mod page_error;
mod session;
mod widgets;

pub use assets::*;
pub use cookies::*;
pub use csrf::*;
pub use format::*;
pub use forms::*;
pub use layout::*;
pub use next::*;
pub use page_error::*;
pub use session::*;
pub use widgets::*;
