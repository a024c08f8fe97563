using HepDb.Security;
using HepDb.Web.Users;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace HepDb.Web;

/// <summary>The dashboard's services: Identity users on the metadata store, the sign-in cookie, Razor Pages.</summary>
public static class DashboardSetup
{
    /// <summary>What the server and the operator tool share: users, password hashing and validation.</summary>
    public static IServiceCollection AddDashboardUsers(this IServiceCollection s)
    {
        s.AddOptions<DashboardOptions>().BindConfiguration(DashboardOptions.Section);
        s.AddIdentityCore<DashboardUser>(o =>
            {
                o.User.RequireUniqueEmail = true;
                o.Password.RequiredLength = 10;
                o.Password.RequireDigit = false;
                o.Password.RequireLowercase = false;
                o.Password.RequireUppercase = false;
                o.Password.RequireNonAlphanumeric = false;
                o.Lockout.AllowedForNewUsers = true;
                o.Lockout.MaxFailedAccessAttempts = 5;
                o.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(15);
            })
            .AddUserStore<DashboardUserStore>();
        s.AddScoped<DashboardUsers>();
        return s;
    }

    /// <summary>The web part: cookie sign-in, data protection keys in the metadata store, pages.</summary>
    public static IServiceCollection AddDashboard(this IServiceCollection s)
    {
        new IdentityBuilder(typeof(DashboardUser), s).AddSignInManager();
        s.AddAuthentication(IdentityConstants.ApplicationScheme)
            .AddCookie(IdentityConstants.ApplicationScheme, o =>
            {
                o.Cookie.Name = "hepdb_session";
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Lax;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.LoginPath = "/sign-in";
                o.LogoutPath = "/sign-out";
                o.ExpireTimeSpan = TimeSpan.FromDays(14);
                o.SlidingExpiration = true;
                // API paths never redirect to a sign-in page.
                o.Events = new CookieAuthenticationEvents
                {
                    OnRedirectToLogin = c => Deny(c, StatusCodes.Status401Unauthorized),
                    OnRedirectToAccessDenied = c => Deny(c, StatusCodes.Status404NotFound),
                };
            });
        s.AddAuthorization();
        s.AddDataProtection().SetApplicationName("HepDb");
        s.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp => new ConfigureOptions<KeyManagementOptions>(o =>
        {
            o.XmlRepository = new MetadataXmlRepository(sp.GetRequiredService<IServiceScopeFactory>());
            o.XmlEncryptor = new SecretBoxXmlEncryptor(sp.GetRequiredService<SecretBox>());
        }));
        s.AddRazorPages(o =>
        {
            o.RootDirectory = "/Web/Pages"; // the UI lives in Web/; the page routes stay /dashboard/…, /admin/…, /sign-in …
            o.Conventions.AuthorizeFolder("/Dashboard");
            o.Conventions.AuthorizeFolder("/Admin");
        });
        return s;
    }

    private static Task Deny(Microsoft.AspNetCore.Authentication.RedirectContext<CookieAuthenticationOptions> c, int status)
    {
        if (status == StatusCodes.Status404NotFound || Api.ApiEnvelope.IsApiPath(c.Request.Path)) c.Response.StatusCode = status;
        else c.Response.Redirect(c.RedirectUri);
        return Task.CompletedTask;
    }

    /// <summary>The short page every error outside the API gets, for the response's status: a 404, a forged form's 400,
    /// or the 500 of an unhandled exception (whose details stay in the log).</summary>
    public static Task WriteErrorPageAsync(HttpContext http)
    {
        http.Response.ContentType = "text/html; charset=utf-8";
        var status = http.Response.StatusCode;
        var what = status switch
        {
            404 => "Not found",
            400 => "Bad request: reload the page and try again",
            500 => "Something went wrong on our side; try again shortly",
            _ => "Error",
        };
        return http.Response.WriteAsync(
            $"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{status} · HepDb</title></head>" +
            $"<body style=\"font-family:system-ui;margin:3rem\"><h1>{status}: {what}</h1><p><a href=\"/dashboard/database\">Back to your databases</a></p></body></html>");
    }

    public static WebApplication MapDashboard(this WebApplication app)
    {
        // An empty error answer outside the API (a 404 from the admin area, a 400 from a forged form) gets a short page.
        app.UseStatusCodePages(context =>
            Api.ApiEnvelope.IsApiPath(context.HttpContext.Request.Path) ? Task.CompletedTask : WriteErrorPageAsync(context.HttpContext));
        app.Use(async (http, next) =>
        {
            // Pages are private and change often: never cached, never framed.
            if (!Api.ApiEnvelope.IsApiPath(http.Request.Path))
            {
                http.Response.Headers.CacheControl = "no-store"; // pages can show a password or a key
                http.Response.Headers.XFrameOptions = "DENY";
                http.Response.Headers.XContentTypeOptions = "nosniff";
                http.Response.Headers["Referrer-Policy"] = "same-origin";
            }
            await next();
        });
        app.MapGet("/", () => Results.Redirect("/dashboard/database")).ExcludeFromDescription();
        app.MapRazorPages();
        return app;
    }
}
