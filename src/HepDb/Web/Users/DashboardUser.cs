namespace HepDb.Web.Users;

/// <summary>A person who signs in to the dashboard. Every user belongs to exactly one account (created with it at
/// sign-up); the account's tier decides whether the user is an operator (tier <c>admin</c>).</summary>
public sealed class DashboardUser
{
    public required string Id { get; init; }
    public required string AccountId { get; init; }
    public required string Email { get; set; }
    public required string NormalizedEmail { get; set; }

    /// <summary>ASP.NET Core Identity's PBKDF2 hash (salted, versioned). Never the password.</summary>
    public string? PasswordHash { get; set; }
    public string SecurityStamp { get; set; } = "";
    public DateTime? LockoutEndUtc { get; set; }
    public int AccessFailedCount { get; set; }
    public DateTime CreatedAt { get; init; }
}

/// <summary>A data-protection key (cookies, antiforgery tokens) kept in the metadata store, so every replica can read
/// the others' cookies and sessions survive restarts.</summary>
public sealed class DataProtectionKey
{
    public required string Id { get; init; }
    public string? FriendlyName { get; init; }
    public required string Xml { get; init; }
}
