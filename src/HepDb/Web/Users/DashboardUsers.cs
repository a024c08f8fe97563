using HepDb.Accounts;
using HepDb.Api;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Hosting;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Web.Users;

public sealed class DashboardOptions
{
    public const string Section = "Dashboard";

    /// <summary>Whether anyone may sign up on <c>/sign-up</c>. When false, operators create users with
    /// <c>hepdb-admin account create</c> and <c>hepdb-admin user set-password</c>. Default true.</summary>
    public bool AllowSignUp { get; set; } = true;
}

/// <summary>Dashboard users: sign-up (with the account), the password set by an operator or changed by its user, and
/// the signed-in user of a request. Refusals are catalog problems whose messages the pages and the CLI show.</summary>
public sealed class DashboardUsers(HepDbContext db, UserManager<DashboardUser> users, AccountService accounts, TimeProvider time)
{
    /// <summary>Creates an account on <paramref name="tier"/> and its user. Nothing is stored when any check fails.</summary>
    public async Task<Outcome<DashboardUser>> SignUpAsync(string? email, string? password, string tier, Actor actor, CancellationToken ct)
    {
        if (AccountService.ValidateEmail(email) is { } invalid) return invalid;
        if (await PasswordProblemAsync(NewUser("", email!), password) is { } weak) return weak;

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var account = await accounts.CreateAsync(email, tier, actor, ct);
        if (!account.Ok) return account.Problem!;
        var user = NewUser(account.Value!.Id, account.Value.Email);
        var created = await users.CreateAsync(user, password!);
        if (!created.Succeeded) return ApiErrors.InvalidPassword(created.Errors.Select(e => e.Description));
        db.Record(time, actor, account.Value.Id, "user.created", user.Id, user.Email);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return user;
    }

    /// <summary>Sets the password of the user of an existing account, creating the user when the account has none.</summary>
    public async Task<Problem?> SetPasswordAsync(Account account, string password, Actor actor, CancellationToken ct)
    {
        var user = await db.DashboardUsers.FirstOrDefaultAsync(u => u.AccountId == account.Id, ct);
        if (await PasswordProblemAsync(user ?? NewUser(account.Id, account.Email), password) is { } weak) return weak;
        IdentityResult result;
        if (user is null)
        {
            user = NewUser(account.Id, account.Email);
            result = await users.CreateAsync(user, password);
        }
        else
        {
            // One save: the new hash, the lifted lockout and a new security stamp (which ends the user's sessions).
            // The validators ran above; removing the old password first would leave a moment with none.
            user.PasswordHash = users.PasswordHasher.HashPassword(user, password);
            user.AccessFailedCount = 0;
            user.LockoutEndUtc = null;
            result = await users.UpdateSecurityStampAsync(user);
        }
        if (!result.Succeeded) return ApiErrors.InvalidPassword(result.Errors.Select(e => e.Description));
        db.Record(time, actor, account.Id, "user.password_set", user.Id);
        await db.SaveChangesAsync(ct);
        return null;
    }

    /// <summary>A user changing their own password, which renews the security stamp and so ends their other sessions.
    /// SPEC §5: a suspended account changes nothing, its password included (an operator can still reset it).</summary>
    public async Task<Outcome<DashboardUser>> ChangePasswordAsync(string userId, string? current, string? next, Actor actor, CancellationToken ct)
    {
        var user = await users.FindByIdAsync(userId);
        if (user is null) return ApiErrors.NotFound;
        if (await db.Accounts.AnyAsync(a => a.Id == user.AccountId && a.SuspendedAt != null, ct)) return ApiErrors.AccountSuspended;
        var changed = await users.ChangePasswordAsync(user, current ?? "", next ?? "");
        if (!changed.Succeeded)
            return changed.Errors.Any(e => e.Code == nameof(IdentityErrorDescriber.PasswordMismatch))
                ? ApiErrors.WrongCurrentPassword
                : ApiErrors.InvalidPassword(changed.Errors.Select(e => e.Description));
        db.Record(time, actor, user.AccountId, "user.password_changed", user.Id);
        await db.SaveChangesAsync(ct);
        return user;
    }

    /// <summary>Grants or revokes the operator right (the admin area) of the user signing in with <paramref name="email"/>,
    /// audited as <c>operator.granted</c> / <c>operator.revoked</c> on the user's account. Nothing changes, and nothing is
    /// recorded, when the user already is (or is not) an operator. A revocation holds from the user's next request: every
    /// signed-in page reads the user from the store.</summary>
    public async Task<Outcome<DashboardUser>> SetOperatorAsync(string? email, bool isOperator, Actor actor, CancellationToken ct)
    {
        var normalized = users.NormalizeEmail(email?.Trim());
        var user = string.IsNullOrEmpty(normalized) ? null : await db.DashboardUsers.FirstOrDefaultAsync(u => u.NormalizedEmail == normalized, ct);
        if (user is null) return new Problem(ErrorCode.NotFound, $"No dashboard user '{email?.Trim()}'.");
        if (user.IsOperator == isOperator) return user;
        user.IsOperator = isOperator;
        db.Record(time, actor, user.AccountId, isOperator ? "operator.granted" : "operator.revoked", user.Id, user.Email);
        await db.SaveChangesAsync(ct);
        return user;
    }

    /// <summary>The users holding the operator right, with their accounts, by email.</summary>
    public async Task<List<(DashboardUser User, Account Account)>> OperatorsAsync(CancellationToken ct)
    {
        var rows = await (from u in db.DashboardUsers.AsNoTracking()
                          where u.IsOperator
                          join a in db.Accounts.AsNoTracking() on u.AccountId equals a.Id
                          orderby u.NormalizedEmail
                          select new { u, a }).ToListAsync(ct);
        return rows.Select(r => (r.u, r.a)).ToList();
    }

    /// <summary>The user a sign-in cookie names and their account, or null when either is gone or the cookie's security
    /// stamp is no longer the user's (the password changed, or an operator reset it, since that sign-in).</summary>
    public async Task<(DashboardUser User, Account Account)?> SignedInAsync(string? userId, string? securityStamp, CancellationToken ct)
    {
        if (userId is null) return null;
        var user = await db.DashboardUsers.AsNoTracking().FirstOrDefaultAsync(u => u.Id == userId, ct);
        if (user is null || user.SecurityStamp != securityStamp) return null;
        var account = await db.Accounts.AsNoTracking().FirstOrDefaultAsync(a => a.Id == user.AccountId, ct);
        return account is null ? null : (user, account);
    }

    private async Task<Problem?> PasswordProblemAsync(DashboardUser user, string? password)
    {
        if (string.IsNullOrEmpty(password)) return ApiErrors.InvalidPassword(["Enter a password."]);
        var errors = new List<string>();
        foreach (var validator in users.PasswordValidators)
        {
            var r = await validator.ValidateAsync(users, user, password);
            errors.AddRange(r.Errors.Select(e => e.Description));
        }
        return errors.Count > 0 ? ApiErrors.InvalidPassword(errors) : null;
    }

    private DashboardUser NewUser(string accountId, string email) => new()
    {
        Id = Ulid.New(time),
        AccountId = accountId,
        Email = email.Trim().ToLowerInvariant(),
        NormalizedEmail = users.NormalizeEmail(email.Trim()) ?? "",
        CreatedAt = time.GetUtcNow().UtcDateTime,
    };
}
