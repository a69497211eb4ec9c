using System.Numerics;
using Bridge.Protocol;
using Bridge.Transport;

namespace Bridge.Tests;

/// <summary>
/// The .NET worker end to end (PROTOCOL.md): a real <c>Bridge worker</c> process on fds 3/4,
/// spoken to frame by frame.
/// </summary>
[Parallelizable(ParallelScope.All)]
public class WorkerTests
{
    private static string FixturesDll => Path.Combine(AppContext.BaseDirectory, "Fixtures.DotNet.dll");

    /// <summary>A copy of Fixtures.DotNet.dll outside the worker's directory (so only the path can find it).</summary>
    private static readonly Lazy<string> s_fixturesCopy = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), $"dotbridge-fixtures-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "Fixtures.DotNet.dll");
        File.Copy(FixturesDll, path, overwrite: true);
        return path;
    });

    private static string FixturesCopy => s_fixturesCopy.Value;

    [Test]
    public void Hello_is_the_first_frame_and_names_the_worker()
    {
        using var worker = WorkerProcess.Start();
        var hello = worker.Receive();
        Assert.Multiple(() =>
        {
            Assert.That(hello.Kind, Is.EqualTo(FrameKind.Hello));
            Assert.That(hello.Version, Is.EqualTo(1));
            Assert.That(hello.WorkerKind, Is.EqualTo("dotnet"));
            Assert.That(hello.Pid, Is.EqualTo(worker.Pid));
        });
    }

    [Test]
    public void A_task_gets_one_result_per_call_in_order()
    {
        using var worker = WorkerProcess.StartReady();
        worker.SendInit(new() { ["max_depth"] = 64L });
        worker.SendTask(42, "Bridge.Samples.Primes.Count", [[0L, 100L], [0L, 1000L], [100L, 100L]]);
        var frame = worker.Receive();
        Assert.That(frame.Kind, Is.EqualTo(FrameKind.Result));
        Assert.Multiple(() =>
        {
            Assert.That(frame.TaskId, Is.EqualTo(42));
            Assert.That(frame.Encoding, Is.EqualTo(TaskEncoding.MsgPack));
            Assert.That(frame.ElapsedUs, Is.GreaterThanOrEqualTo(0));
            Assert.That(WorkerProcess.Decode(frame.Payload), Is.EqualTo(new object[] { 25L, 168L, 0L }));
        });
    }

    [Test]
    public void Pipelined_tasks_are_all_answered_in_order()
    {
        using var worker = WorkerProcess.StartReady();
        worker.Send(w =>
        {
            for (int i = 1; i <= 200; i++)
            {
                w.WriteTask(i, TaskEncoding.MsgPack, "Bridge.Samples.Echo.Add", MsgPackValues.Serialize(new object[] { new object[] { i, 1000 } }));
            }
        });
        for (int i = 1; i <= 200; i++)
        {
            var frame = worker.Receive();
            Assert.That(frame.TaskId, Is.EqualTo(i));
            Assert.That(WorkerProcess.Decode(frame.Payload), Is.EqualTo(new object[] { 1000L + i }));
        }
    }

    [Test]
    public void Results_cover_void_tasks_bigints_arrays_and_maps()
    {
        using var worker = WorkerProcess.StartReady();
        Assert.Multiple(() =>
        {
            Assert.That(worker.Call("Bridge.Samples.Echo.Nothing", [[]]), Is.EqualTo(new object?[] { null }));
            Assert.That(worker.Call1("Bridge.Samples.Echo.DelayAsync", [5, 7L]), Is.EqualTo(7L));
            Assert.That(worker.Call1("Bridge.Samples.Conversions.Factorial", [25]), Is.EqualTo(BigInteger.Parse("15511210043330985984000000")));
            Assert.That(worker.Call1("Bridge.Samples.Conversions.Range", [4]), Is.EqualTo(new[] { 0, 1, 2, 3 }));
            Assert.That(worker.Call1("Bridge.Samples.Conversions.Scale", [new[] { 1.0, 2.0 }, 3]), Is.EqualTo(new[] { 3.0, 6.0 }));
            Assert.That(worker.Call1("Bridge.Samples.Conversions.SumSpan", [new object[] { 1.0, 2L, 3.5 }]), Is.EqualTo(6.5));
            Assert.That(worker.Call("Bridge.Samples.Conversions.SumAll", [[1L, 2L, 3L], [], [new[] { 4L, 5L }]]),
                Is.EqualTo(new object[] { 6L, 0L, 9L }));
            Assert.That(worker.Call1("Bridge.Samples.Conversions.Swap", [new object[] { 1L, "a" }]), Is.EqualTo(new object[] { "a", 1L }));
            var counts = (Dictionary<object, object?>)worker.Call1("Bridge.Samples.Conversions.WordCounts", [new[] { "a", "b", "a" }])!;
            Assert.That(counts, Is.EquivalentTo(new Dictionary<object, object?> { ["a"] = 2L, ["b"] = 1L }));
            Assert.That(worker.Call("Bridge.Samples.Conversions.TypeOf", [[new object[] { 1L }], [null], [new Dictionary<string, long>()]]),
                Is.EqualTo(new object[] { "Object[]", "null", "Dictionary`2" }));
        });
    }

    [Test]
    public void A_method_that_throws_gives_a_raised_error_with_its_cause_chain()
    {
        using var worker = WorkerProcess.StartReady();
        var e = worker.CallError1("Bridge.Samples.Errors.ThrowWithInner", ["outer text", "inner text"]);
        Assert.Multiple(() =>
        {
            Assert.That(e.Kind, Is.EqualTo("raised"));
            Assert.That(e.Type, Is.EqualTo("System.InvalidOperationException"));
            Assert.That(e.Message, Is.EqualTo("outer text"));
            Assert.That(e.Index, Is.EqualTo(0));
            Assert.That(e.Traceback, Does.Contain("Bridge.Samples.Errors.ThrowWithInner"));
            Assert.That(e.Traceback, Does.Not.Contain("dotbridge_invoke"));
            Assert.That(e.Cause, Is.Not.Null);
            Assert.That(e.Cause!.Type, Is.EqualTo("System.ArgumentException"));
            Assert.That(e.Cause.Message, Is.EqualTo("inner text"));
        });
    }

    [Test]
    public void The_error_index_names_the_failing_call_and_the_worker_goes_on()
    {
        using var worker = WorkerProcess.StartReady();
        var e = worker.CallError("Bridge.Samples.Errors.Divide", [[6L, 3L], [1L, 0L], [4L, 2L]]);
        Assert.Multiple(() =>
        {
            Assert.That(e.Type, Is.EqualTo("System.DivideByZeroException"));
            Assert.That(e.Index, Is.EqualTo(1));
        });
        Assert.That(worker.Call1("Bridge.Samples.Errors.Divide", [6L, 3L]), Is.EqualTo(2L));
    }

    [Test]
    public void A_faulted_task_result_is_a_raised_error()
    {
        using var worker = WorkerProcess.StartReady();
        var e = worker.CallError1("Bridge.Samples.Errors.ThrowAsync", ["async boom"]);
        Assert.That((e.Kind, e.Type, e.Message), Is.EqualTo(("raised", "System.InvalidOperationException", "async boom")));
    }

    [Test]
    public void An_unknown_method_is_a_target_error_naming_what_was_looked_for()
    {
        using var worker = WorkerProcess.StartReady();
        var e = worker.CallError1("Bridge.Samples.Primes.Cuont", [1L, 2L]);
        Assert.Multiple(() =>
        {
            Assert.That(e.Kind, Is.EqualTo("target"));
            Assert.That(e.Type, Is.EqualTo("System.MissingMethodException"));
            Assert.That(e.Message, Does.Contain("'Cuont'").And.Contain("Bridge.Samples.Primes").And.Contain("Count"));
        });
    }

    [Test]
    public void An_unknown_type_is_a_target_error_naming_where_it_looked()
    {
        using var worker = WorkerProcess.StartReady();
        var e = worker.CallError1("No.Such.Type.Method", []);
        Assert.Multiple(() =>
        {
            Assert.That(e.Kind, Is.EqualTo("target"));
            Assert.That(e.Type, Is.EqualTo("System.TypeLoadException"));
            Assert.That(e.Message, Does.Contain("'No.Such.Type'").And.Contain("No.Such.Type.dll").And.Contain("No.dll"));
        });
    }

    [Test]
    public void A_missing_assembly_file_is_a_target_error()
    {
        using var worker = WorkerProcess.StartReady();
        var e = worker.CallError1("A.B.C@/nonexistent/dir/A.dll", []);
        Assert.That((e.Kind, e.Type), Is.EqualTo(("target", "System.IO.FileNotFoundException")));
        Assert.That(e.Message, Does.Contain("/nonexistent/dir/A.dll"));
    }

    [Test]
    public void A_wrong_argument_count_is_an_args_error_naming_the_method()
    {
        using var worker = WorkerProcess.StartReady();
        var e = worker.CallError1("Bridge.Samples.Primes.Count", [1L]);
        Assert.Multiple(() =>
        {
            Assert.That(e.Kind, Is.EqualTo("args"));
            Assert.That(e.Message, Is.EqualTo("Bridge.Samples.Primes.Count(long lo, long hi) takes 2 arguments, got 1"));
            Assert.That(e.Index, Is.EqualTo(0));
        });
    }

    [Test]
    public void An_argument_that_does_not_convert_is_an_args_error_naming_the_parameter()
    {
        using var worker = WorkerProcess.StartReady();
        var e = worker.CallError("Bridge.Samples.Primes.Count", [[0L, 10L], [1L, "x"]]);
        Assert.Multiple(() =>
        {
            Assert.That(e.Kind, Is.EqualTo("args"));
            Assert.That(e.Type, Is.EqualTo("Bridge.ValueConversionException"));
            Assert.That(e.Message, Is.EqualTo("Bridge.Samples.Primes.Count(long lo, long hi): argument 2 'hi': cannot convert str to Int64"));
            Assert.That(e.Index, Is.EqualTo(1));
        });
        var range = worker.CallError1("Bridge.Samples.Conversions.DoubleByte", [300L]);
        Assert.That(range.Message, Is.EqualTo("Bridge.Samples.Conversions.DoubleByte(byte b): argument 1 'b': cannot convert int 300 to Byte: out of range"));
    }

    [Test]
    public void A_result_that_cannot_be_encoded_is_a_result_error()
    {
        using var worker = WorkerProcess.StartReady();
        var e = worker.CallError1("Bridge.Samples.Errors.Unencodable", []);
        Assert.Multiple(() =>
        {
            Assert.That(e.Kind, Is.EqualTo("result"));
            Assert.That(e.Message, Does.Contain("DateTime"));
        });
        Assert.That(worker.Call1("Bridge.Samples.Echo.Identity", [5L]), Is.EqualTo(5L));
    }

    [Test]
    public void ValueTask_results_are_awaited()
    {
        using var worker = WorkerProcess.StartReady();
        string at = "@" + FixturesCopy;
        Assert.Multiple(() =>
        {
            Assert.That(worker.Call1("Fixtures.DotNet.Methods.AddValueTask" + at, [2L, 40L]), Is.EqualTo(42L));
            Assert.That(worker.Call1("Fixtures.DotNet.Methods.DelayValueTask" + at, [5]), Is.Null);
        });
    }

    [Test]
    public void The_samples_compute_what_their_docs_say()
    {
        using var worker = WorkerProcess.StartReady();
        Assert.Multiple(() =>
        {
            Assert.That(worker.Call1("Bridge.Samples.Primes.Count", [0L, 100_000L]), Is.EqualTo(9592L));
            Assert.That(worker.Call1("Bridge.Samples.Primes.Count", [2_147_483_640L, 2_147_483_660L]), Is.EqualTo(2L), "2147483647 and 2147483659, across the 32-bit edge");
            Assert.That(worker.Call1("Bridge.Samples.Primes.CountRange", [new long[] { 0, 10, 100 }]), Is.EqualTo(new long[] { 4, 21 }));
            Assert.That(worker.Call1("Bridge.Samples.Mandelbrot.Row", [0, 3, 2, 10]), Is.EqualTo(new[] { 1, 2, 2 }));
            Assert.That(worker.Call1("Bridge.Samples.Mandelbrot.Row", [1, 3, 2, 10]), Is.EqualTo(new[] { 10, 10, 10 }));
            Assert.That(worker.Call1("Bridge.Samples.Conversions.Join", [new[] { "a", "b" }]), Is.EqualTo("a, b"));
            Assert.That(worker.Call1("Bridge.Samples.Conversions.OrMinusOne", [null]), Is.EqualTo(-1L));
            Assert.That(worker.Call1("Bridge.Samples.Conversions.NextChar", ["a"]), Is.EqualTo("b"));
            Assert.That(worker.Call1("Bridge.Samples.Conversions.Reverse", [new byte[] { 1, 2 }]), Is.EqualTo(new byte[] { 2, 1 }));
        });
    }

    [Test]
    public void A_lazy_result_that_throws_while_encoded_is_a_raised_error()
    {
        using var worker = WorkerProcess.StartReady();
        var e = worker.CallError1("Fixtures.DotNet.Methods.LazyThrows@" + FixturesCopy, []);
        Assert.That((e.Kind, e.Type, e.Message), Is.EqualTo(("raised", "System.InvalidOperationException", "lazy failure")));
        Assert.That(worker.Call1("Bridge.Samples.Echo.Identity", [3L]), Is.EqualTo(3L));
    }

    [Test]
    public void An_assembly_given_by_path_is_loaded_from_there()
    {
        using var worker = WorkerProcess.StartReady();
        string at = "@" + FixturesCopy;
        Assert.Multiple(() =>
        {
            Assert.That(worker.Call1("Fixtures.DotNet.Methods.Add" + at, [2L, 3L]), Is.EqualTo(5L));
            Assert.That(worker.Call("Fixtures.DotNet.Methods.Greet" + at, [["Ada"], ["Ada", "Hi"]]),
                Is.EqualTo(new object[] { "Hello, Ada!", "Hi, Ada!" }));
            Assert.That(worker.Call("Fixtures.DotNet.Methods.Overloaded" + at, [[1L], ["s"], [1L, 2L]]),
                Is.EqualTo(new object[] { "long 1", "string s", "long,long 1,2" }));
            // Once loaded, the assembly is found without the path too.
            Assert.That(worker.Call1("Fixtures.DotNet.Methods.Add", [1L, 1L]), Is.EqualTo(2L));
        });
    }

    [Test]
    public void A_method_with_an_out_parameter_is_reported_as_not_callable()
    {
        using var worker = WorkerProcess.StartReady();
        var e = worker.CallError1("Fixtures.DotNet.Methods.TryParse@" + FixturesCopy, ["1"]);
        Assert.That(e.Kind, Is.EqualTo("target"));
        Assert.That(e.Message, Does.Contain("by reference"));
    }

    [Test]
    public void Init_loads_assemblies_and_runs_the_initializer()
    {
        using var worker = WorkerProcess.StartReady();
        worker.SendInit(new()
        {
            ["assemblies"] = new object[] { FixturesCopy },
            ["initializer"] = "Fixtures.DotNet.Methods.Init",
            ["initargs"] = new object[] { "ready" },
            ["python_init"] = null,
        });
        Assert.That(worker.Call1("Fixtures.DotNet.Methods.Initialized", []), Is.EqualTo("ready"));
    }

    [Test]
    public void A_failing_initializer_sends_fatal_and_exits_1()
    {
        using var worker = WorkerProcess.StartReady();
        worker.SendInit(new()
        {
            ["initializer"] = "Fixtures.DotNet.Methods.FailingInit@" + FixturesCopy,
            ["initargs"] = new object[] { "no luck" },
        });
        var frame = worker.Receive();
        Assert.That(frame.Kind, Is.EqualTo(FrameKind.Fatal));
        var e = ErrorMap.Parse(frame.Map);
        Assert.Multiple(() =>
        {
            Assert.That((e.Kind, e.Type, e.Message), Is.EqualTo(("raised", "System.InvalidOperationException", "no luck")));
            Assert.That(worker.WaitForExit(), Is.EqualTo(1));
        });
    }

    [TestCase(new byte[] { 0, 0, 0, 1, 0xc1 }, TestName = "Malformed_body_sends_fatal_and_exits_65")]
    [TestCase(new byte[] { 0, 0, 0, 0 }, TestName = "Zero_length_sends_fatal_and_exits_65")]
    [TestCase(new byte[] { 0, 0, 0, 2, 0x91, 0x09 }, TestName = "Unknown_frame_kind_sends_fatal_and_exits_65")]
    [TestCase(new byte[] { 0, 0, 0, 3, 0x91, 0x01, 0x01 }, TestName = "Trailing_bytes_send_fatal_and_exit_65")]
    [TestCase(new byte[] { 0, 0, 0, 2, 0x91, 0x01 }, TestName = "A_hello_sent_to_a_worker_sends_fatal_and_exits_65")]
    [TestCase(new byte[] { 0x7f, 0xff, 0xff, 0xff }, TestName = "An_oversized_length_sends_fatal_and_exits_65")]
    public void A_bad_frame_sends_fatal_and_exits_65(byte[] bytes)
    {
        using var worker = WorkerProcess.StartReady();
        worker.SendRaw(bytes);
        var frame = worker.Receive();
        Assert.That(frame.Kind, Is.EqualTo(FrameKind.Fatal));
        Assert.That(ErrorMap.Parse(frame.Map).Message, Is.Not.Empty);
        Assert.That(worker.WaitForExit(), Is.EqualTo(65));
    }

    [Test]
    public void Stop_answers_what_was_received_then_exits_0()
    {
        using var worker = WorkerProcess.StartReady();
        worker.Send(w =>
        {
            w.WriteTask(1, TaskEncoding.MsgPack, "Bridge.Samples.Echo.Sleep", MsgPackValues.Serialize(new object[] { new object[] { 50 } }));
            w.WriteStop();
        });
        var frame = worker.Receive();
        Assert.That((frame.Kind, frame.TaskId), Is.EqualTo((FrameKind.Result, 1L)));
        Assert.That(worker.WaitForExit(), Is.EqualTo(0));
    }

    [Test]
    public void Eof_on_the_task_pipe_exits_0()
    {
        using var worker = WorkerProcess.StartReady();
        worker.CloseTaskPipe();
        Assert.That(worker.WaitForExit(), Is.EqualTo(0));
    }

    [Test]
    public void A_pickle_task_is_refused_without_breaking_the_worker()
    {
        using var worker = WorkerProcess.StartReady();
        worker.Send(w => w.WriteTask(3, TaskEncoding.Pickle, (string?)null, [0x80, 0x04, 0x2e]));
        var frame = worker.Receive();
        Assert.That((frame.Kind, frame.TaskId), Is.EqualTo((FrameKind.Error, 3L)));
        Assert.That(ErrorMap.Parse(frame.Map).Kind, Is.EqualTo("target"));
        Assert.That(worker.Call1("Bridge.Samples.Echo.Identity", [1L]), Is.EqualTo(1L));
    }

    [Test]
    public void A_worker_whose_parent_dies_exits_by_itself()
    {
        // sh is the worker's parent (it inherits fds 3/4 from us); killing sh orphans the worker.
        using var shell = WorkerProcess.Start(["/bin/sh", "-c", $"'{WorkerProcess.DotNetHost}' '{WorkerProcess.BridgeDll}' worker; exit 0"]);
        var hello = shell.Receive();
        Assert.That(hello.Kind, Is.EqualTo(FrameKind.Hello));
        int workerPid = hello.Pid;
        Assert.That(WorkerProcess.IsAlive(workerPid), Is.True);
        Libc.Kill(shell.Pid, Libc.SIGKILL);
        Assert.That(shell.WaitForExit(), Is.EqualTo(-Libc.SIGKILL));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (WorkerProcess.IsAlive(workerPid) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(50);
        }
        Assert.That(WorkerProcess.IsAlive(workerPid), Is.False, "the orphaned worker should exit within 250 ms of its parent's death");
    }

    [Test]
    public void Stdout_stays_the_users_and_protocol_bytes_never_go_there()
    {
        var output = Path.Combine(Path.GetTempPath(), $"dotbridge-stdout-{Guid.NewGuid():N}.txt");
        try
        {
            using (var worker = WorkerProcess.Start(["/bin/sh", "-c", $"exec '{WorkerProcess.DotNetHost}' '{WorkerProcess.BridgeDll}' worker > '{output}'"]))
            {
                Assert.That(worker.Receive().Kind, Is.EqualTo(FrameKind.Hello));
                Assert.That(worker.Call1("Fixtures.DotNet.Methods.Print@" + FixturesCopy, ["printed by C#"]), Is.EqualTo(13L));
                worker.CloseTaskPipe();
                Assert.That(worker.WaitForExit(), Is.EqualTo(0));
            }
            Assert.That(File.ReadAllText(output), Is.EqualTo("printed by C#\n"));
        }
        finally
        {
            File.Delete(output);
        }
    }
}
