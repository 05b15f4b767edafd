//! The admin API, `/api/v1/admin/...`: one module per object family.
//!
//! Every handler here takes [`AdminAuth`](crate::extract::AdminAuth) first, so no route of
//! this tree answers anything but 401 to an anonymous caller. Creation answers 201, deletion
//! 204 with no body; everything else 200 with the resulting view.

pub mod admins;
pub mod agents;
pub mod audit;
pub mod domains;
pub mod emergency;
pub mod providers;
pub mod tokens;
pub mod users;

use crate::routes::Routes;

/// Prefix of every admin route.
pub const PREFIX: &str = "/api/v1/admin";

pub(crate) fn routes(r: Routes) -> Routes {
    let r = domains::routes(r);
    let r = users::routes(r);
    let r = tokens::routes(r);
    let r = emergency::routes(r);
    let r = agents::routes(r);
    let r = admins::routes(r);
    let r = providers::routes(r);
    audit::routes(r)
}
