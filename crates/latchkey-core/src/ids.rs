//! Row identifiers. They never leave the server: the API names objects by name or serial.

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);
    };
}

id_type!(
    /// A security domain.
    DomainId
);
id_type!(
    /// A user.
    UserId
);
id_type!(
    /// A token.
    TokenId
);
id_type!(
    /// An agent.
    AgentId
);
id_type!(
    /// An administrator.
    AdminId
);
