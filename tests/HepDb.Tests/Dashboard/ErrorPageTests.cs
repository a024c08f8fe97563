using System.Net;
using HepDb.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Dashboard;

/// <summary>One error format each side: outside the API an unexpected failure is the dashboard's short error page
/// (never a problem+json body, never a stack trace), on the API the SPEC envelope.</summary>
public sealed class ErrorPageTests(EngineServers engines)
{
    [Fact]
    public async Task An_unhandled_exception_on_a_page_answers_500_with_the_short_error_page_and_no_stack_trace()
    {
        await using var app = new HepDbApp(engines);
        // In Development too, where ASP.NET Core would otherwise show its developer exception page.
        await using var crashing = app.WithWebHostBuilder(b => b.UseEnvironment("Development")
            .ConfigureServices(s => s.Configure<MvcOptions>(o => o.Filters.Add(new FailingPageFilter()))));
        using var client = crashing.CreateClient();

        var response = await client.GetAsync("/sign-in");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("<h1>500: Something went wrong on our side", body, StringComparison.Ordinal);
        Assert.DoesNotContain(FailingPageFilter.Message, body, StringComparison.Ordinal);
        Assert.DoesNotContain("FailingPageFilter", body, StringComparison.Ordinal); // no stack trace
        Assert.Contains(FailingPageFilter.Message, app.Log.Text, StringComparison.Ordinal); // it is in the log instead
    }

    /// <summary>Fails every page handler, as a bug in a page would.</summary>
    private sealed class FailingPageFilter : IAsyncPageFilter
    {
        public const string Message = "injected page failure";
        public Task OnPageHandlerSelectionAsync(PageHandlerSelectedContext context) => Task.CompletedTask;
        public Task OnPageHandlerExecutionAsync(PageHandlerExecutingContext context, PageHandlerExecutionDelegate next) =>
            throw new InvalidOperationException(Message);
    }
}
