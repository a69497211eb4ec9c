using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;
using Bridge.Compiler;

namespace Compiler.Tests;

public class KernelCompilerTests
{
    private const string Kernels = """
        public static class Kernels
        {
            public static long CountPrimes(long lo, long hi)
            {
                long count = 0;
                for (long n = Math.Max(lo, 2); n < hi; n++)
                {
                    bool prime = true;
                    for (long d = 2; d * d <= n; d++) if (n % d == 0) { prime = false; break; }
                    if (prime) count++;
                }
                return count;
            }
            public static int Add(int a, int b) => a + b;
            public static int Add(int a, int b, int c) => a + b + c;
            public static T Generic<T>(T x) => x;
            private static int Hidden() => 0;
            internal static int AlsoHidden() => 0;
            public static class Nested { public static int Twice(int x) => 2 * x; }
        }
        namespace My.Ns { public static class Vec { public static double Sum(double[] xs) => xs.Sum(); } }
        internal static class Internal { public static int F() => 0; }
        public class NoStatics { public int F() => 0; }
        """;

    [Test]
    public void Valid_source_compiles_to_an_assembly_whose_methods_run()
    {
        var result = KernelCompiler.Compile(Kernels, [], "k_valid");
        Assert.That(result.Success, Is.True, string.Join("\n", result.Diagnostics));
        Assert.That(result.Image, Is.Not.Null);

        var context = new AssemblyLoadContext("k_valid", isCollectible: true);
        try
        {
            var assembly = context.LoadFromStream(new MemoryStream(result.Image!));
            var count = assembly.GetType("Kernels")!.GetMethod("CountPrimes")!;
            Assert.That(count.Invoke(null, [0L, 100L]), Is.EqualTo(25L));
            var sum = assembly.GetType("My.Ns.Vec")!.GetMethod("Sum")!;
            Assert.That(sum.Invoke(null, [new[] { 1.5, 2.5 }]), Is.EqualTo(4.0));
            var twice = assembly.GetType("Kernels+Nested")!.GetMethod("Twice")!;
            Assert.That(twice.Invoke(null, [21]), Is.EqualTo(42));
            var debuggable = assembly.GetCustomAttribute<DebuggableAttribute>();
            Assert.That(debuggable?.IsJITOptimizerDisabled ?? false, Is.False, "compiled in Release");
        }
        finally
        {
            context.Unload();
        }
    }

    [Test]
    public void Types_list_public_static_non_generic_methods_with_reflection_names()
    {
        var result = KernelCompiler.Compile(Kernels, [], "k_types");
        var types = result.Types.ToDictionary(t => t.Name, t => t.Methods);
        Assert.That(types.Keys, Is.EquivalentTo(new[] { "Kernels", "Kernels+Nested", "My.Ns.Vec" }));
        Assert.That(types["Kernels"], Is.EqualTo(new[] { "Add", "CountPrimes" }));
        Assert.That(types["Kernels+Nested"], Is.EqualTo(new[] { "Twice" }));
    }

    [Test]
    public void Errors_carry_one_based_positions_in_the_users_source()
    {
        const string source = "public static class Bad {\n  public static int F(int x) {\n    return x +;\n  }\n"
                              + "  public static int G() => undefinedName;\n}\n";
        var result = KernelCompiler.Compile(source, [], "k_bad");
        Assert.That(result.Success, Is.False);
        Assert.That(result.Image, Is.Null);
        Assert.That(result.Types, Is.Empty);
        var errors = result.Diagnostics.Select(d => (d.Id, d.Severity, d.Line, d.Column)).ToArray();
        Assert.That(errors, Is.EqualTo(new[] { ("CS1525", "error", 3, 15), ("CS0103", "error", 5, 28) }));
        Assert.That(result.Diagnostics[1].Message, Does.Contain("undefinedName"));
        Assert.That((result.Diagnostics[1].EndLine, result.Diagnostics[1].EndColumn), Is.EqualTo((5, 41)));
    }

    [Test]
    public void Implicit_usings_work_and_do_not_shift_positions()
    {
        // first line uses List<>, Enumerable, BigInteger, Task: all implicit; the error is on line 1 too
        const string source = "public static class U { public static object F() => (new List<int>().Count, Enumerable.Empty<int>(), BigInteger.One, Task.CompletedTask, nope); }";
        var result = KernelCompiler.Compile(source, [], "k_usings");
        var only = result.Diagnostics.Single();
        Assert.That((only.Id, only.Line, only.Column), Is.EqualTo(("CS0103", 1, source.IndexOf("nope", StringComparison.Ordinal) + 1)));
    }

    [Test]
    public void A_users_own_using_of_an_implicit_namespace_is_not_an_error_or_a_warning()
    {
        var result = KernelCompiler.Compile("using System;\nusing System.Linq;\npublic static class A { public static int F() => 1; }", [], "k_dup");
        Assert.That(result.Success, Is.True);
        Assert.That(result.Diagnostics, Is.Empty);
    }

    [Test]
    public void Unsafe_code_is_allowed_and_nullable_annotations_are_off()
    {
        const string source = "public static class P { public static unsafe int F() { int x = 3; int* p = &x; string s = null; return *p + (s == null ? 1 : 0); } }";
        var result = KernelCompiler.Compile(source, [], "k_unsafe");
        Assert.That(result.Success, Is.True, string.Join("\n", result.Diagnostics));
        Assert.That(result.Diagnostics, Is.Empty);
    }

    [Test]
    public void Warnings_do_not_fail_the_compilation()
    {
        var result = KernelCompiler.Compile("public static class W { public static int F() { int unused; return 1; } }", [], "k_warn");
        Assert.That(result.Success, Is.True);
        Assert.That(result.Diagnostics.Select(d => (d.Id, d.Severity)), Is.EqualTo(new[] { ("CS0168", "warning") }));
    }

    [Test]
    public void Output_is_deterministic()
    {
        var a = KernelCompiler.Compile(Kernels, [], "k_det");
        var b = KernelCompiler.Compile(Kernels, [], "k_det");
        Assert.That(a.Image, Is.EqualTo(b.Image));
    }

    [Test]
    public void References_are_compiled_against()
    {
        var lib = KernelCompiler.Compile("public static class Lib { public static int Seven() => 7; }", [], "k_lib");
        var path = Path.Combine(Path.GetTempPath(), $"k_lib_{Guid.NewGuid():N}.dll");
        File.WriteAllBytes(path, lib.Image!);
        try
        {
            const string user = "public static class User { public static int F() => Lib.Seven() * 2; }";
            Assert.That(KernelCompiler.Compile(user, [path], "k_user").Success, Is.True);
            Assert.That(KernelCompiler.Compile(user, [], "k_user").Diagnostics.Select(d => d.Id), Does.Contain("CS0103"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void A_missing_reference_throws_FileNotFoundException()
    {
        Assert.Throws<FileNotFoundException>(() => KernelCompiler.Compile("class A {}", ["/nonexistent/x.dll"], "k_missing"));
    }
}
