using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace HepDb.Data.Migrations;

/// <summary>Outcomes of background job runs (quota watcher), shown to operators.</summary>
[DbContext(typeof(HepDbContext))]
[Migration("20261122000004_JobRuns")]
public sealed class JobRuns : Migration
{
    protected override void Up(MigrationBuilder m)
    {
        m.CreateTable("job_runs", t => new
        {
            Id = t.Column<string>(maxLength: 26),
            Job = t.Column<string>(maxLength: 32),
            StartedAt = t.Column<DateTime>(),
            FinishedAt = t.Column<DateTime>(),
            Ok = t.Column<bool>(),
            Summary = t.Column<string>(maxLength: 4000),
        }, constraints: t => t.PrimaryKey("PK_job_runs", x => x.Id));
        m.CreateIndex("IX_job_runs_Job_StartedAt", "job_runs", ["Job", "StartedAt"]);
    }

    protected override void Down(MigrationBuilder m) => m.DropTable("job_runs");
}
