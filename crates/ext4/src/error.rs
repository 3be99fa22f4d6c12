//! [`Error`]: every way a filesystem operation can fail. Bad on-disk data always ends here as
//! a value (never a panic), with a short static description of what was wrong.
//! [`Error::is_corruption`] tells which errors mean the image itself is damaged: those switch
//! a mounted filesystem to read-only (see `fs`).

use blockdev::IoError;

/// Result alias used throughout the crate.
pub type Result<T> = core::result::Result<T, Error>;

/// Why an ext4 operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The block device failed.
    Io(IoError),
    /// The superblock is not a usable ext4 superblock.
    BadSuperblock(&'static str),
    /// The image uses a feature this crate cannot handle safely (`which` names the feature set).
    UnsupportedFeature { which: &'static str, bits: u32 },
    /// A metadata checksum did not match.
    BadChecksum(&'static str),
    /// On-disk structures are inconsistent.
    Corrupt(&'static str),
    /// One inode is inconsistent with what it maps or holds. The message reads
    /// "corrupt filesystem: directory inode 2: size 0 but it has blocks" for `kind`
    /// "directory", `ino` 2 and `what` "size 0 but it has blocks".
    CorruptInode {
        kind: &'static str,
        ino: u32,
        what: &'static str,
    },
    /// Corruption was detected earlier in this mount: the filesystem stopped writing (like
    /// Linux's `errors=remount-ro`); [`crate::Ext4::errors`] says what was found.
    HasErrors,
    /// The journal cannot be replayed or written.
    Journal(&'static str),
    /// No such file or directory.
    NotFound,
    /// A path component that must be a directory is not one.
    NotADirectory,
    /// The operation needs a non-directory.
    IsADirectory,
    /// The target name already exists.
    AlreadyExists,
    /// rmdir (or rename over) a directory that still has entries.
    DirectoryNotEmpty,
    /// No free blocks or inodes left.
    NoSpace,
    /// A name longer than 255 bytes, empty, or containing `/` or NUL.
    InvalidName,
    /// A path that is not absolute or names something that cannot be operated on (e.g. `/`).
    InvalidPath,
    /// A path whose last component is `.` or `..`, given to create, remove or rename (POSIX
    /// `EINVAL`): `rename("/d/.", …)` must not rename `/d`.
    DotOrDotDot,
    /// Walking `..` or nested directories did not terminate: a directory loop.
    DirectoryLoop,
    /// Moving a directory into its own subtree.
    InvalidMove,
    /// The filesystem was mounted read-only (or has features that only allow reading).
    ReadOnly,
    /// The file would exceed what the extent format can address.
    FileTooLarge,
    /// The inode uses a layout this crate does not read (block maps, inline data).
    UnsupportedInode(&'static str),
    /// Too many hard links to one inode.
    TooManyLinks,
}

impl Error {
    /// Whether the error means the image is damaged (a failed consistency or checksum
    /// check), as opposed to a refused request, a full disk or a device failure.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            Error::Corrupt(_)
                | Error::CorruptInode { .. }
                | Error::BadChecksum(_)
                | Error::DirectoryLoop
        )
    }
}

impl From<IoError> for Error {
    fn from(e: IoError) -> Self {
        Error::Io(e)
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::BadSuperblock(w) => write!(f, "bad superblock: {w}"),
            Error::UnsupportedFeature { which, bits } => {
                write!(f, "unsupported {which} features {bits:#x}")
            }
            Error::BadChecksum(w) => write!(f, "checksum mismatch in {w}"),
            Error::Corrupt(w) => write!(f, "corrupt filesystem: {w}"),
            Error::CorruptInode { kind, ino, what } => {
                write!(f, "corrupt filesystem: {kind} inode {ino}: {what}")
            }
            Error::HasErrors => write!(f, "file system has errors: mounted read-only"),
            Error::Journal(w) => write!(f, "journal error: {w}"),
            Error::NotFound => write!(f, "no such file or directory"),
            Error::NotADirectory => write!(f, "not a directory"),
            Error::IsADirectory => write!(f, "is a directory"),
            Error::AlreadyExists => write!(f, "file exists"),
            Error::DirectoryNotEmpty => write!(f, "directory not empty"),
            Error::NoSpace => write!(f, "no space left on device"),
            Error::InvalidName => write!(f, "invalid file name"),
            Error::InvalidPath => write!(f, "invalid path"),
            Error::DotOrDotDot => write!(f, "`.` and `..` cannot be created, removed or renamed"),
            Error::DirectoryLoop => write!(f, "directory loop detected"),
            Error::InvalidMove => write!(f, "cannot move a directory into itself"),
            Error::ReadOnly => write!(f, "filesystem is read-only"),
            Error::FileTooLarge => write!(f, "file too large"),
            Error::UnsupportedInode(w) => write!(f, "unsupported inode layout: {w}"),
            Error::TooManyLinks => write!(f, "too many links"),
        }
    }
}
