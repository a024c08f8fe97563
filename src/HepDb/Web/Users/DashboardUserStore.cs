using HepDb.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Web.Users;

/// <summary>ASP.NET Core Identity's storage for <see cref="DashboardUser"/> on the metadata store: users sign in with their
/// email, passwords are hashed by Identity, failed attempts lock the user out for a while.</summary>
public sealed class DashboardUserStore(HepDbContext db) :
    IUserPasswordStore<DashboardUser>, IUserEmailStore<DashboardUser>, IUserSecurityStampStore<DashboardUser>, IUserLockoutStore<DashboardUser>
{
    public async Task<IdentityResult> CreateAsync(DashboardUser user, CancellationToken ct)
    {
        db.DashboardUsers.Add(user);
        await db.SaveChangesAsync(ct);
        return IdentityResult.Success;
    }

    public async Task<IdentityResult> UpdateAsync(DashboardUser user, CancellationToken ct)
    {
        if (db.Entry(user).State == EntityState.Detached) db.DashboardUsers.Update(user);
        await db.SaveChangesAsync(ct);
        return IdentityResult.Success;
    }

    public async Task<IdentityResult> DeleteAsync(DashboardUser user, CancellationToken ct)
    {
        await db.DashboardUsers.Where(u => u.Id == user.Id).ExecuteDeleteAsync(ct);
        return IdentityResult.Success;
    }

    public Task<DashboardUser?> FindByIdAsync(string userId, CancellationToken ct) =>
        db.DashboardUsers.FirstOrDefaultAsync(u => u.Id == userId, ct);

    public Task<DashboardUser?> FindByNameAsync(string normalizedUserName, CancellationToken ct) => FindByEmailAsync(normalizedUserName, ct);

    public Task<DashboardUser?> FindByEmailAsync(string normalizedEmail, CancellationToken ct) =>
        db.DashboardUsers.FirstOrDefaultAsync(u => u.NormalizedEmail == normalizedEmail, ct);

    // The user name is the email.
    public Task<string> GetUserIdAsync(DashboardUser user, CancellationToken ct) => Task.FromResult(user.Id);
    public Task<string?> GetUserNameAsync(DashboardUser user, CancellationToken ct) => Task.FromResult<string?>(user.Email);
    public Task SetUserNameAsync(DashboardUser user, string? userName, CancellationToken ct) => SetEmailAsync(user, userName, ct);
    public Task<string?> GetNormalizedUserNameAsync(DashboardUser user, CancellationToken ct) => Task.FromResult<string?>(user.NormalizedEmail);
    public Task SetNormalizedUserNameAsync(DashboardUser user, string? normalizedName, CancellationToken ct) => SetNormalizedEmailAsync(user, normalizedName, ct);

    public Task SetEmailAsync(DashboardUser user, string? email, CancellationToken ct)
    {
        user.Email = email ?? "";
        return Task.CompletedTask;
    }

    public Task<string?> GetEmailAsync(DashboardUser user, CancellationToken ct) => Task.FromResult<string?>(user.Email);
    public Task<bool> GetEmailConfirmedAsync(DashboardUser user, CancellationToken ct) => Task.FromResult(true);
    public Task SetEmailConfirmedAsync(DashboardUser user, bool confirmed, CancellationToken ct) => Task.CompletedTask;
    public Task<string?> GetNormalizedEmailAsync(DashboardUser user, CancellationToken ct) => Task.FromResult<string?>(user.NormalizedEmail);

    public Task SetNormalizedEmailAsync(DashboardUser user, string? normalizedEmail, CancellationToken ct)
    {
        user.NormalizedEmail = normalizedEmail ?? "";
        return Task.CompletedTask;
    }

    public Task SetPasswordHashAsync(DashboardUser user, string? passwordHash, CancellationToken ct)
    {
        user.PasswordHash = passwordHash;
        return Task.CompletedTask;
    }

    public Task<string?> GetPasswordHashAsync(DashboardUser user, CancellationToken ct) => Task.FromResult(user.PasswordHash);
    public Task<bool> HasPasswordAsync(DashboardUser user, CancellationToken ct) => Task.FromResult(user.PasswordHash is not null);

    public Task SetSecurityStampAsync(DashboardUser user, string stamp, CancellationToken ct)
    {
        user.SecurityStamp = stamp;
        return Task.CompletedTask;
    }

    public Task<string?> GetSecurityStampAsync(DashboardUser user, CancellationToken ct) => Task.FromResult<string?>(user.SecurityStamp);

    public Task<DateTimeOffset?> GetLockoutEndDateAsync(DashboardUser user, CancellationToken ct) =>
        Task.FromResult(user.LockoutEndUtc is { } end ? new DateTimeOffset(DateTime.SpecifyKind(end, DateTimeKind.Utc)) : (DateTimeOffset?)null);

    public Task SetLockoutEndDateAsync(DashboardUser user, DateTimeOffset? lockoutEnd, CancellationToken ct)
    {
        user.LockoutEndUtc = lockoutEnd?.UtcDateTime;
        return Task.CompletedTask;
    }

    public Task<int> IncrementAccessFailedCountAsync(DashboardUser user, CancellationToken ct) => Task.FromResult(++user.AccessFailedCount);

    public Task ResetAccessFailedCountAsync(DashboardUser user, CancellationToken ct)
    {
        user.AccessFailedCount = 0;
        return Task.CompletedTask;
    }

    public Task<int> GetAccessFailedCountAsync(DashboardUser user, CancellationToken ct) => Task.FromResult(user.AccessFailedCount);
    public Task<bool> GetLockoutEnabledAsync(DashboardUser user, CancellationToken ct) => Task.FromResult(true);
    public Task SetLockoutEnabledAsync(DashboardUser user, bool enabled, CancellationToken ct) => Task.CompletedTask;

    public void Dispose() { }
}
