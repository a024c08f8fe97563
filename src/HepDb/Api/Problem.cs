namespace HepDb.Api;

/// <summary>An expected failure, returned (not thrown) by services. <see cref="Code"/> is a SPEC §3 code where the API can
/// meet it; the dashboard shows <see cref="Message"/>.</summary>
public sealed record Problem(string Code, string Message)
{
    public int Status => ApiErrors.StatusOf(Code);
}

/// <summary>A service result: a value or a <see cref="Problem"/>.</summary>
public readonly record struct Outcome<T>(T? Value, Problem? Problem)
{
    public bool Ok => Problem is null;
    public static implicit operator Outcome<T>(T value) => new(value, null);
    public static implicit operator Outcome<T>(Problem problem) => new(default, problem);
}

/// <summary>The error catalog of SPEC §3 (code → status), plus the dashboard-only refusals.</summary>
public static class ApiErrors
{
    private static readonly Dictionary<string, int> Statuses = new()
    {
        ["MISSING_KEY"] = 401,
        ["BAD_KEY"] = 401,
        ["KEY_DISABLED"] = 401,
        ["INVALID_BODY"] = 400,
        ["INVALID_NAME"] = 400,
        ["INVALID_ENGINE"] = 400,
        ["ENGINE_DISABLED"] = 400,
        ["DATABASE_LIMIT_REACHED"] = 403,
        ["STORAGE_QUOTA_EXCEEDED"] = 403,
        ["NOT_FOUND"] = 404,
        ["METHOD_NOT_ALLOWED"] = 405,
        ["BODY_TOO_LARGE"] = 413,
        ["UNSUPPORTED_MEDIA_TYPE"] = 415,
        ["IDEMPOTENCY_KEY_REUSED"] = 422,
        ["RATE_LIMITED"] = 429,
        ["ENGINE_UNAVAILABLE"] = 503,
        ["INTERNAL_ERROR"] = 500,
        // Dashboard-only refusals (never produced by the management API).
        ["KEY_LIMIT_REACHED"] = 403,
        ["ACCOUNT_SUSPENDED"] = 403,
        ["CONFIRMATION_MISMATCH"] = 400,
        // Payment webhook.
        ["BAD_SIGNATURE"] = 401,
    };

    public static int StatusOf(string code) => Statuses.TryGetValue(code, out var s) ? s : 500;

    public static readonly Problem MissingKey = new("MISSING_KEY", "Missing API key: send 'Authorization: Bearer hepgg_db_…'.");
    public static readonly Problem BadKey = new("BAD_KEY", "The API key is not valid.");
    public static readonly Problem KeyDisabled = new("KEY_DISABLED", "The API key is disabled.");
    public static readonly Problem NotFound = new("NOT_FOUND", "Not found.");
    public static readonly Problem DatabaseNotFound = new("NOT_FOUND", "No database with that id.");
    public static readonly Problem DeleteIsDashboardOnly = new("METHOD_NOT_ALLOWED", "Deleting a database is only possible in the dashboard.");
    public static readonly Problem MethodNotAllowed = new("METHOD_NOT_ALLOWED", "Method not allowed on this resource.");
    public static readonly Problem BodyTooLarge = new("BODY_TOO_LARGE", "The request body is larger than 16 KiB.");
    public static readonly Problem UnsupportedMediaType = new("UNSUPPORTED_MEDIA_TYPE", "Send the body as JSON (Content-Type: application/json).");
    public static readonly Problem RateLimited = new("RATE_LIMITED", "Too many requests; retry after the time in Retry-After.");
    public static readonly Problem IdempotencyKeyReused = new("IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was already used with a different request body.");
    public static readonly Problem Internal = new("INTERNAL_ERROR", "Something went wrong on our side. Nothing was created.");
    public static readonly Problem AccountSuspended = new("ACCOUNT_SUSPENDED", "Your account is suspended; nothing can be changed until the suspension is lifted.");

    public static Problem InvalidBody(string why) => new("INVALID_BODY", why);
    public static Problem InvalidName(string why) => new("INVALID_NAME", why);
    public static Problem InvalidEngine() => new("INVALID_ENGINE", "engine must be one of: mariadb, postgres, mongo.");
    public static Problem EngineDisabled(string engine, string why) => new("ENGINE_DISABLED", $"The {engine} engine is not enabled on this deployment{why}.");
    public static Problem DatabaseLimit(int limit) => new("DATABASE_LIMIT_REACHED", $"Your plan allows {limit} database(s) and all are in use. Delete one or add a pack in Top Up.");
    public static Problem StorageQuota(long usedBytes, long limitBytes) => new("STORAGE_QUOTA_EXCEEDED",
        $"Your account uses {usedBytes / 1_048_576.0:0.#} MB of its {limitBytes / 1_048_576} MB storage. Free space or add a pack in Top Up.");
    /// <summary>ENGINE_UNAVAILABLE, saying what became of the action: <paramref name="consequence"/> is one of the
    /// <see cref="Unavailable"/> sentences.</summary>
    public static Problem EngineUnavailable(string engine, string consequence) =>
        new("ENGINE_UNAVAILABLE", $"The {engine} server cannot be reached right now. {consequence}");

    /// <summary>What an action left behind when its engine server could not be reached.</summary>
    public static class Unavailable
    {
        public const string Create = "Nothing was created; try again shortly.";
        public const string Reveal = "The password cannot be shown until it is back; try again shortly.";
        public const string Rotate = "The password was not changed; try again shortly.";
        public const string RotateUnsettled = "The new password may already be set; the next reveal or rotate finishes the rotation and shows the password that works.";
        public const string Delete = "The database is marked for deletion and is deleted once the server is back.";
    }

    public static Problem KeyLimit(int limit) => new("KEY_LIMIT_REACHED", $"Your plan allows {limit} active key(s). Disable another key first.");

    /// <summary>A retry whose original create is still waiting for a slow engine server after the replay's wait.</summary>
    public static Problem StillProvisioning(string engine) => new("ENGINE_UNAVAILABLE",
        $"The database for this Idempotency-Key is still being created on the {engine} server; retry with the same key shortly.");

    public static readonly Problem IdempotencyKeyOfDeletedDatabase = new("IDEMPOTENCY_KEY_REUSED",
        "This Idempotency-Key belongs to a database that is being deleted; send a new key to create another.");
}
