using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace HepDb.Data.Migrations;

/// <summary>Operator is a right of a dashboard user, no longer the admin tier of its account. Users of admin-tier
/// accounts, the operators until now, keep the right.</summary>
[DbContext(typeof(HepDbContext))]
[Migration("20261207000008_OperatorRight")]
public sealed class OperatorRight : Migration
{
    protected override void Up(MigrationBuilder m)
    {
        m.AddColumn<bool>("IsOperator", "dashboard_users", nullable: false, defaultValue: false);
        // TRUE is a boolean on PostgreSQL and 1 on SQLite (3.23 and later).
        m.Sql("""UPDATE dashboard_users SET "IsOperator" = TRUE WHERE "AccountId" IN (SELECT "Id" FROM accounts WHERE "Tier" = 'admin')""");
    }

    protected override void Down(MigrationBuilder m) => m.DropColumn("IsOperator", "dashboard_users");
}
