namespace HepDb.Api;

/// <summary>
/// Every code a refusal can carry, in one catalog: <see cref="ErrorCodes.Of"/> gives each its wire name (the
/// <c>code</c> of the JSON envelope) and HTTP status. The first block is SPEC §3's management API catalog, which must
/// not change; the second adds the codes of the API's extensions (SPEC §3b, listed in docs/api.md); the others are
/// refusals of the dashboard, the operator tool and the webhook (the extensions also answer ACCOUNT_SUSPENDED).
/// </summary>
public enum ErrorCode
{
    // SPEC §3: the management API.
    MissingKey,
    BadKey,
    KeyDisabled,
    InvalidBody,
    InvalidName,
    InvalidEngine,
    EngineDisabled,
    DatabaseLimitReached,
    StorageQuotaExceeded,
    NotFound,
    MethodNotAllowed,
    BodyTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    RateLimited,
    EngineUnavailable,
    InternalError,

    // SPEC §3b: the management API's extensions (backups, allowlists).
    BackupLimitReached,
    DatabaseBusy,
    BackupsUnavailable,
    RestoreFailed,
    ImportFailed,
    AllowlistUnavailable,

    // The dashboard and the operator tool (hepdb-admin, the admin area).
    KeyLimitReached,
    AccountSuspended,
    ConfirmationMismatch,
    InvalidEmail,
    EmailTaken,
    InvalidTier,
    InvalidPassword,
    ReasonRequired,
    ServerNotFound,
    InvalidServer,
    ServerInUse,
    MoveRefused,

    // The payment webhook.
    BadSignature,
}

public static class ErrorCodes
{
    /// <summary>Every code the management API can answer: SPEC §3's catalog, its extensions' (§3b), and ACCOUNT_SUSPENDED
    /// (the extensions refuse a suspended account's changes with it).</summary>
    public static readonly ErrorCode[] Api = Enum.GetValues<ErrorCode>()
        .Where(c => c <= ErrorCode.AllowlistUnavailable || c == ErrorCode.AccountSuspended).ToArray();

    /// <summary>The wire name and HTTP status of <paramref name="code"/>. A unit test checks that every
    /// <see cref="ErrorCode"/> has its line here and that no two share a wire name.</summary>
    public static (string Wire, int Status) Of(ErrorCode code) => code switch
    {
        ErrorCode.MissingKey => ("MISSING_KEY", 401),
        ErrorCode.BadKey => ("BAD_KEY", 401),
        ErrorCode.KeyDisabled => ("KEY_DISABLED", 401),
        ErrorCode.InvalidBody => ("INVALID_BODY", 400),
        ErrorCode.InvalidName => ("INVALID_NAME", 400),
        ErrorCode.InvalidEngine => ("INVALID_ENGINE", 400),
        ErrorCode.EngineDisabled => ("ENGINE_DISABLED", 400),
        ErrorCode.DatabaseLimitReached => ("DATABASE_LIMIT_REACHED", 403),
        ErrorCode.StorageQuotaExceeded => ("STORAGE_QUOTA_EXCEEDED", 403),
        ErrorCode.NotFound => ("NOT_FOUND", 404),
        ErrorCode.MethodNotAllowed => ("METHOD_NOT_ALLOWED", 405),
        ErrorCode.BodyTooLarge => ("BODY_TOO_LARGE", 413),
        ErrorCode.UnsupportedMediaType => ("UNSUPPORTED_MEDIA_TYPE", 415),
        ErrorCode.IdempotencyKeyReused => ("IDEMPOTENCY_KEY_REUSED", 422),
        ErrorCode.RateLimited => ("RATE_LIMITED", 429),
        ErrorCode.EngineUnavailable => ("ENGINE_UNAVAILABLE", 503),
        ErrorCode.InternalError => ("INTERNAL_ERROR", 500),
        ErrorCode.BackupLimitReached => ("BACKUP_LIMIT_REACHED", 403),
        ErrorCode.DatabaseBusy => ("DATABASE_BUSY", 409),
        ErrorCode.BackupsUnavailable => ("BACKUPS_UNAVAILABLE", 400),
        ErrorCode.RestoreFailed => ("RESTORE_FAILED", 500),
        ErrorCode.ImportFailed => ("IMPORT_FAILED", 400),
        ErrorCode.AllowlistUnavailable => ("ALLOWLIST_UNAVAILABLE", 400),
        ErrorCode.KeyLimitReached => ("KEY_LIMIT_REACHED", 403),
        ErrorCode.AccountSuspended => ("ACCOUNT_SUSPENDED", 403),
        ErrorCode.ConfirmationMismatch => ("CONFIRMATION_MISMATCH", 400),
        ErrorCode.InvalidEmail => ("INVALID_EMAIL", 400),
        ErrorCode.EmailTaken => ("EMAIL_TAKEN", 409),
        ErrorCode.InvalidTier => ("INVALID_TIER", 400),
        ErrorCode.InvalidPassword => ("INVALID_PASSWORD", 400),
        ErrorCode.ReasonRequired => ("REASON_REQUIRED", 400),
        ErrorCode.ServerNotFound => ("SERVER_NOT_FOUND", 404),
        ErrorCode.InvalidServer => ("INVALID_SERVER", 400),
        ErrorCode.ServerInUse => ("SERVER_IN_USE", 409),
        ErrorCode.MoveRefused => ("MOVE_REFUSED", 409),
        ErrorCode.BadSignature => ("BAD_SIGNATURE", 401),
        _ => throw new ArgumentOutOfRangeException(nameof(code), code, null),
    };
}

/// <summary>An expected failure, returned (not thrown) by services: a catalog <see cref="Error"/> and the sentence shown
/// to the user (the API's <c>error</c>, the dashboard's and the CLI's message). Build one through <see cref="ApiErrors"/>.</summary>
public sealed record Problem(ErrorCode Error, string Message)
{
    /// <summary>The wire code, as SPEC §3 spells it.</summary>
    public string Code => ErrorCodes.Of(Error).Wire;

    public int Status => ErrorCodes.Of(Error).Status;
}

/// <summary>A service result: a value or a <see cref="Problem"/>.</summary>
public readonly record struct Outcome<T>(T? Value, Problem? Problem)
{
    public bool Ok => Problem is null;
    public static implicit operator Outcome<T>(T value) => new(value, null);
    public static implicit operator Outcome<T>(Problem problem) => new(default, problem);
}

/// <summary>The catalog's problems with their messages: every refusal a service returns is built here.</summary>
public static class ApiErrors
{
    public static readonly Problem MissingKey = new(ErrorCode.MissingKey, "Missing API key: send 'Authorization: Bearer hepgg_db_…'.");
    public static readonly Problem BadKey = new(ErrorCode.BadKey, "The API key is not valid.");
    public static readonly Problem KeyDisabled = new(ErrorCode.KeyDisabled, "The API key is disabled.");
    public static readonly Problem NotFound = new(ErrorCode.NotFound, "Not found.");
    public static readonly Problem DatabaseNotFound = new(ErrorCode.NotFound, "No database with that id.");
    public static readonly Problem DeleteIsDashboardOnly = new(ErrorCode.MethodNotAllowed, "Deleting a database is only possible in the dashboard.");
    public static readonly Problem MethodNotAllowed = new(ErrorCode.MethodNotAllowed, "Method not allowed on this resource.");
    public static readonly Problem BodyTooLarge = new(ErrorCode.BodyTooLarge, "The request body is larger than 16 KiB.");
    public static readonly Problem UnsupportedMediaType = new(ErrorCode.UnsupportedMediaType, "Send the body as JSON (Content-Type: application/json).");
    public static readonly Problem RateLimited = new(ErrorCode.RateLimited, "Too many requests; retry after the time in Retry-After.");
    public static readonly Problem IdempotencyKeyReused = new(ErrorCode.IdempotencyKeyReused, "This Idempotency-Key was already used with a different request body.");
    public static readonly Problem Internal = new(ErrorCode.InternalError, "Something went wrong on our side. Nothing was created.");
    public static readonly Problem AccountSuspended = new(ErrorCode.AccountSuspended, "Your account is suspended; nothing can be changed until the suspension is lifted.");

    public static Problem InvalidBody(string why) => new(ErrorCode.InvalidBody, why);
    public static Problem InvalidName(string why) => new(ErrorCode.InvalidName, why);
    public static Problem InvalidEngine() => new(ErrorCode.InvalidEngine, "engine must be one of: mariadb, postgres, mongo.");
    public static Problem EngineDisabled(string engine, string why) => new(ErrorCode.EngineDisabled, $"The {engine} engine is not enabled on this deployment{why}.");
    public static readonly Problem MariaDbAlwaysOn = new(ErrorCode.EngineDisabled, "MariaDB is the primary pool and is always available.");
    public static Problem DatabaseLimit(int limit) => new(ErrorCode.DatabaseLimitReached, $"Your plan allows {limit} database(s) and all are in use. Delete one or add a pack in Top Up.");
    public static Problem StorageQuota(long usedBytes, long limitBytes) => new(ErrorCode.StorageQuotaExceeded,
        $"Your account uses {usedBytes / 1_048_576.0:0.#} MB of its {limitBytes / 1_048_576} MB storage. Free space or add a pack in Top Up.");
    /// <summary>ENGINE_UNAVAILABLE, saying what became of the action: <paramref name="consequence"/> is one of the
    /// <see cref="Unavailable"/> sentences.</summary>
    public static Problem EngineUnavailable(string engine, string consequence) =>
        new(ErrorCode.EngineUnavailable, $"The {engine} server cannot be reached right now. {consequence}");

    /// <summary>What an action left behind when its engine server could not be reached.</summary>
    public static class Unavailable
    {
        public const string Create = "Nothing was created; try again shortly.";
        public const string Reveal = "The password cannot be shown until it is back; try again shortly.";
        public const string Rotate = "The password was not changed; try again shortly.";
        public const string RotateUnsettled = "The new password may already be set; the next reveal or rotate finishes the rotation and shows the password that works.";
        public const string Delete = "The database is marked for deletion and is deleted once the server is back.";
        public const string Backup = "No backup was taken; try again shortly.";
        public const string Restore = "Nothing was restored and the database is as it was; try again shortly.";
        public const string Allowlist = "The allowlist was not changed; try again shortly.";
    }

    public static Problem ServerNotFound(string name) => new(ErrorCode.ServerNotFound, $"No engine server is named '{name}'.");

    public static Problem AmbiguousServer(string name, IEnumerable<string> engines) => new(ErrorCode.InvalidServer,
        $"More than one engine has a server named '{name}' ({string.Join(", ", engines)}): say which with --engine.");

    public static Problem InvalidServer(string why) => new(ErrorCode.InvalidServer, why);

    public static Problem ServerInUse(string id, int databases) => new(ErrorCode.ServerInUse,
        $"Server {id} still holds {databases} database(s): drain it and move them off first (hepdb-admin server evacuate).");

    public static Problem MoveRefused(string why) => new(ErrorCode.MoveRefused, why);

    /// <summary>No server of the engine can take a new database: every one is full, draining or disabled.</summary>
    public static Problem NoRoom(string engine) => new(ErrorCode.EngineUnavailable,
        $"No {engine} server has room for a new database right now (every one is full or closed to new databases). Nothing was created; try again later.");

    /// <summary>A retry whose original create is still waiting for a slow engine server after the replay's wait.</summary>
    public static Problem StillProvisioning(string engine) => new(ErrorCode.EngineUnavailable,
        $"The database for this Idempotency-Key is still being created on the {engine} server; retry with the same key shortly.");

    public static readonly Problem IdempotencyKeyOfDeletedDatabase = new(ErrorCode.IdempotencyKeyReused,
        "This Idempotency-Key belongs to a database that is being deleted; send a new key to create another.");

    // Backups (SPEC §3b).

    public static readonly Problem BackupNotFound = new(ErrorCode.NotFound, "No complete backup with that id for this database.");
    public static Problem BackupLimit(int perDay) => new(ErrorCode.BackupLimitReached,
        $"Your plan allows {perDay} backup(s) per database per day (UTC), besides the daily automatic one. Try again tomorrow.");
    public static readonly Problem DatabaseBusy = new(ErrorCode.DatabaseBusy,
        "A backup, restore or allowlist change of this database is already running; try again when it has finished.");
    public static Problem BackupsUnavailable(string engine) => new(ErrorCode.BackupsUnavailable,
        $"Backups of {engine} databases are not available on this deployment (its dump tools are not installed).");
    public static readonly Problem BackupFailed = new(ErrorCode.InternalError, "The backup could not be taken; nothing was kept. Try again later.");
    public static Problem FinalBackupFailed(string engine) => new(ErrorCode.EngineUnavailable,
        $"The final backup could not be taken from the {engine} server, so the database was not deleted; try again shortly.");
    public static readonly Problem RestoreFailed = new(ErrorCode.RestoreFailed,
        "The backup could not be restored; the database keeps the contents it had before.");
    public static Problem ImportFailed(string why) => new(ErrorCode.ImportFailed, why);

    // Allowlists (SPEC §3b).

    public static Problem AllowlistUnavailable(string engine) => new(ErrorCode.AllowlistUnavailable,
        $"IP allowlists are not available for {engine} databases on this deployment (HepDb does not manage that server's access rules).");
    public static Problem ImportTooLarge(long importBytes, long freeBytes) => new(ErrorCode.StorageQuotaExceeded,
        $"The import holds {importBytes / 1_048_576.0:0.#} MB of SQL but the account has {freeBytes / 1_048_576.0:0.#} MB of storage free. Nothing was changed.");

    // Refusals of the dashboard and the operator tool (never produced by the management API).

    public static Problem KeyLimit(int limit) => new(ErrorCode.KeyLimitReached, $"Your plan allows {limit} active key(s). Disable another key first.");
    public static Problem ConfirmationMismatch(string name) => new(ErrorCode.ConfirmationMismatch, $"Type the database name \"{name}\" to confirm.");
    public static Problem NoPack(string packId) => new(ErrorCode.NotFound, $"No pack '{packId}' in the catalogue.");
    public static Problem NoAccount(string reference) => new(ErrorCode.NotFound, $"No account '{reference}'.");
    public static readonly Problem InvalidEmail = new(ErrorCode.InvalidEmail, "Enter a valid email address.");
    public static Problem EmailTaken(string email) => new(ErrorCode.EmailTaken, $"An account with email {email} already exists.");
    public static Problem InvalidTier(string? tier) => new(ErrorCode.InvalidTier, $"Unknown tier '{tier}': choose free, premium or admin.");
    /// <summary>The password validators' sentences, together.</summary>
    public static Problem InvalidPassword(IEnumerable<string> why) => new(ErrorCode.InvalidPassword, string.Join(" ", why));
    public static readonly Problem WrongCurrentPassword = new(ErrorCode.InvalidPassword, "The current password is wrong.");
    public static readonly Problem SuspensionNeedsReason = new(ErrorCode.ReasonRequired, "A suspension needs a reason.");
    public static readonly Problem LiftNeedsReason = new(ErrorCode.ReasonRequired, "Lifting a suspension needs a reason.");
    /// <summary>A suspension or its lifting was recorded, but some engine steps failed; the quota watcher retries them.</summary>
    public static Problem EngineStepsPending(IEnumerable<string> errors) => new(ErrorCode.EngineUnavailable,
        $"Recorded, but some engine steps failed and will be retried by the quota watcher: {string.Join("; ", errors)}");

    // The payment webhook.

    public static readonly Problem BadSignature = new(ErrorCode.BadSignature, "Missing, invalid or expired signature.");
    public static readonly Problem UnknownAccount = new(ErrorCode.NotFound, "Unknown account.");
}
