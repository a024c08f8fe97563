using System.Security.Claims;
using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Web.Users;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.Extensions.Options;

namespace HepDb.Web.Pages;

/// <summary>
/// Base of every signed-in page: loads the user and the account once per request, rejects a session whose password
/// has changed since sign-in, and carries the one-shot notice/error shown at the top of the page.
/// </summary>
public abstract class DashboardPage : PageModel
{
    public Account Account { get; private set; } = null!;
    public DashboardUser CurrentUser { get; private set; } = null!;
    /// <summary>The user's operator right (<c>hepdb-admin operator grant</c>), read with the user on every request: a
    /// revocation shuts the admin area from the next request on. The account's tier plays no part.</summary>
    public bool IsOperator => CurrentUser.IsOperator;
    public bool IsSuspended => Account.SuspendedAt is not null;

    /// <summary>Set on a page that only operators may see: anyone else gets a plain 404.</summary>
    protected virtual bool OperatorsOnly => false;

    // A message survives one redirect in TempData (post/redirect/get) or is shown by the page being rendered.
    [TempData] public string? FlashNotice { get; set; }
    [TempData] public string? FlashError { get; set; }
    private string? _notice, _error;
    public string? Notice => _notice ?? FlashNotice;
    public string? Error => _error ?? FlashError;

    private T Service<T>() where T : notnull => HttpContext.RequestServices.GetRequiredService<T>();
    protected Actor Actor => Actor.User(CurrentUser.Id, Api.ClientAddress.Of(HttpContext));

    public override async Task OnPageHandlerExecutionAsync(PageHandlerExecutingContext context, PageHandlerExecutionDelegate next)
    {
        var userId = User.FindFirstValue(ClaimTypes.NameIdentifier);
        var stamp = User.FindFirstValue(Service<IOptions<IdentityOptions>>().Value.ClaimsIdentity.SecurityStampClaimType);
        if (await Service<DashboardUsers>().SignedInAsync(userId, stamp, HttpContext.RequestAborted) is not var (user, account))
        {
            await HttpContext.SignOutAsync(IdentityConstants.ApplicationScheme);
            context.Result = Redirect($"/sign-in?ReturnUrl={Uri.EscapeDataString(Request.Path)}");
            return;
        }
        CurrentUser = user;
        Account = account;
        if (OperatorsOnly && !IsOperator)
        {
            context.Result = NotFound();
            return;
        }
        await next();
    }

    /// <summary>Post/redirect/get with a message for the next page view.</summary>
    protected IActionResult Done(string notice, object? routeValues = null)
    {
        FlashNotice = notice;
        return RedirectToPage(null, routeValues);
    }

    /// <summary>Post/redirect/get with the refusal's message (the same text the API gives for that code).</summary>
    protected IActionResult Refused(Api.Problem problem, object? routeValues = null)
    {
        FlashError = problem.Message;
        return RedirectToPage(null, routeValues);
    }

    /// <summary>For a page rendered in answer to a post (it shows a secret that must not travel in a cookie).</summary>
    protected void Say(string? notice = null, string? error = null)
    {
        _notice = notice;
        _error = error;
    }
}

/// <summary>Base of the admin area's pages.</summary>
public abstract class OperatorPage : DashboardPage
{
    protected override bool OperatorsOnly => true;

    /// <summary>Operator actions are audited as the operator, not as a user of the account they act on.</summary>
    protected Actor OperatorActor => Actor.OperatorUser(CurrentUser.Id, Api.ClientAddress.Of(HttpContext));
}
