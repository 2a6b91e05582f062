//! Typed indices. Code indexes slices with these and never writes `as usize`.

use std::fmt;
use std::ops::{Index, IndexMut};

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident($inner:ty), $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub $inner);

        impl $name {
            /// The index as a `usize`, for slices.
            #[inline(always)]
            pub fn index(self) -> usize {
                self.0 as usize
            }

            /// The id for slice index `i`.
            ///
            /// # Panics
            ///
            /// When `i` does not fit the id's width; the compiler checks table sizes
            /// before it mints ids, so this is an internal error.
            pub fn from_index(i: usize) -> $name {
                $name(<$inner>::try_from(i).expect(concat!(stringify!($name), " overflow")))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl<T> Index<$name> for [T] {
            type Output = T;
            #[inline(always)]
            fn index(&self, id: $name) -> &T {
                &self[id.index()]
            }
        }

        impl<T> IndexMut<$name> for [T] {
            #[inline(always)]
            fn index_mut(&mut self, id: $name) -> &mut T {
                &mut self[id.index()]
            }
        }

        impl<T> Index<$name> for Vec<T> {
            type Output = T;
            #[inline(always)]
            fn index(&self, id: $name) -> &T {
                &self[id.index()]
            }
        }

        impl<T> IndexMut<$name> for Vec<T> {
            #[inline(always)]
            fn index_mut(&mut self, id: $name) -> &mut T {
                &mut self[id.index()]
            }
        }
    };
}

typed_id!(
    /// A constant in the program's pool: literal bytes interned once.
    ConstId(u32), "k"
);
typed_id!(
    /// A per-VU byte buffer that a template is written into.
    BufId(u16), "b"
);
typed_id!(
    /// A request step: its method, origin, path, headers and body layout.
    StepId(u32), "s"
);
typed_id!(
    /// A target origin (scheme, host, port): connections are made per origin.
    OriginId(u16), "o"
);
typed_id!(
    /// A position in the instruction stream.
    Pc(u32), "@"
);
typed_id!(
    /// A compiled check in the program's check table.
    CheckId(u32), "c"
);
typed_id!(
    /// A weighted choice of scenarios, in the program's pick tables.
    PickId(u32), "p"
);
typed_id!(
    /// A per-VU slot holding an extracted value.
    SlotId(u16), "v"
);
typed_id!(
    /// An extractor in the program's extractor table.
    ExtractorId(u32), "x"
);
typed_id!(
    /// A script function in the program's runner (one per function and role).
    ScriptId(u32), "f"
);
typed_id!(
    /// A `${script:name}` call site, in the program's script call table.
    ScriptCallId(u32), "q"
);
typed_id!(
    /// An inclusive integer range for `${RANDOM(min,max)}`, in the program's table.
    RangeId(u32), "r"
);
typed_id!(
    /// A data source (`[[data]]`, `--data`), in the program's data table list.
    DataId(u16), "d"
);
typed_id!(
    /// One column of one data source (`${users.name}`), in the program's column
    /// table.
    ColumnId(u32), "dc"
);
