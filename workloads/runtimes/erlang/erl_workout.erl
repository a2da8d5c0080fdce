%% A workout for Erlang's BEAM JIT: every module loaded is compiled to
%% native code by the JIT and written through its RW view of the code
%% memory. Run (the test compiles this file inside the guarded run too):
%%
%%   erl -noshell -eval '{ok, M} = compile:file("erl_workout", [{outdir, "/tmp"}]),
%%                       code:add_patha("/tmp"), erl_workout:main("/tmp"), halt().'
%%
%% It generates a module of 300 functions, compiles it with compile:file,
%% loads it, calls every function, then changes it (adding an on_load
%% function) and loads it again (hot code loading), unloads and purges
%% both versions (the JIT frees their code), traces calls, and
%% works lists, maps, binaries, ets, processes and exceptions. Everything
%% printed is deterministic.
-module(erl_workout).
-export([main/1]).

main(Dir) ->
    R1 = generated(Dir, 1),
    R2 = generated(Dir, 2),
    io:format("generated v1: ~p~ngenerated v2: ~p~n", [R1, R2]),
    io:format("unloaded: ~p~n", [unload(erl_workout_gen)]),
    io:format("traced calls: ~p~n", [traced(50)]),
    io:format("sort: ~p~n", [sort_check(20000)]),
    io:format("maps: ~p~n", [maps_check(5000)]),
    io:format("binaries: ~p~n", [binary_check(2000)]),
    io:format("ets: ~p~n", [ets_check(3000)]),
    io:format("ring: ~p~n", [ring(50, 200)]),
    io:format("exceptions: ~p~n", [exceptions(1000)]),
    io:format("funs: ~p~n", [funs(10000)]),
    io:format("done~n").

%% A module of N functions f0..fN-1, each an arithmetic expression of its
%% argument that depends on the version, and all/1 summing them.
gen_source(Version, N) ->
    Fs = [io_lib:format("f~b(X) -> (X * ~b + ~b) rem 1000003.~n",
                        [I, I + Version, I * Version]) || I <- lists:seq(0, N - 1)],
    Calls = string:join([io_lib:format("f~b(X)", [I]) || I <- lists:seq(0, N - 1)], " + "),
    Exports = string:join([io_lib:format("f~b/1", [I]) || I <- lists:seq(0, N - 1)], ", "),
    %% Version 2 has an on_load function: the loader finishes it after
    %% init/0 has run (finish_after_on_load).
    OnLoad = case Version of
                 2 -> "-on_load(init/0).\ninit() -> ok.\n";
                 _ -> ""
             end,
    ["-module(erl_workout_gen).\n-export([all/1, ", Exports, "]).\n", OnLoad,
     "all(X) -> ", Calls, ".\n" | Fs].

generated(Dir, Version) ->
    Src = filename:join(Dir, "erl_workout_gen.erl"),
    ok = file:write_file(Src, gen_source(Version, 300)),
    {ok, erl_workout_gen} = compile:file(Src, [{outdir, Dir}]),
    code:purge(erl_workout_gen),
    {module, erl_workout_gen} = code:load_abs(filename:join(Dir, "erl_workout_gen")),
    lists:sum([erl_workout_gen:all(X) || X <- lists:seq(1, 200)]).

%% Both versions purged: the JIT frees their code.
unload(M) ->
    code:purge(M),
    true = code:delete(M),
    code:purge(M),
    code:is_loaded(M).

%% Call tracing: the JIT patches a breakpoint into the traced function.
traced(N) ->
    Self = self(),
    Tracer = spawn(fun() -> count_traces(Self, 0) end),
    erlang:trace_pattern({lists, duplicate, 2}, true, [local]),
    erlang:trace(self(), true, [call, {tracer, Tracer}]),
    [lists:duplicate(3, I) || I <- lists:seq(1, N)],
    erlang:trace(self(), false, [call]),
    erlang:trace_pattern({lists, duplicate, 2}, false, [local]),
    Tracer ! {done, Self},
    receive {count, C} -> C end.

count_traces(Parent, C) ->
    receive
        {trace, _, call, {lists, duplicate, _}} -> count_traces(Parent, C + 1);
        {trace, _, call, _} -> count_traces(Parent, C);
        {done, Parent} -> Parent ! {count, C}
    end.

%% A linear congruential generator, so the data is the same every run.
lcg(S) -> (S * 1103515245 + 12345) band 16#7fffffff.

randoms(N) -> randoms(N, 42, []).
randoms(0, _, Acc) -> Acc;
randoms(N, S, Acc) -> S1 = lcg(S), randoms(N - 1, S1, [S1 rem 100000 | Acc]).

sort_check(N) ->
    L = lists:sort(randoms(N)),
    U = lists:usort(L),
    {length(U), lists:sum(lists:sublist(L, 100)), lists:last(L)}.

maps_check(N) ->
    M = lists:foldl(fun(K, Acc) -> maps:update_with(K rem 997, fun(V) -> V + K end, K, Acc) end,
                    #{}, randoms(N)),
    {maps:size(M), lists:sum(maps:values(M)) rem 1000003}.

binary_check(N) ->
    B = << <<(X rem 256)>> || X <- randoms(N) >>,
    Words = [W || <<W:16>> <= B],
    Hex = binary:encode_hex(crypto_free_hash(B)),
    {byte_size(B), lists:sum(Words) rem 65521, Hex}.

%% A small hash (no crypto application needed): FNV-1a over the bytes.
crypto_free_hash(B) ->
    H = lists:foldl(fun(Byte, Acc) -> ((Acc bxor Byte) * 16777619) band 16#ffffffff end,
                    2166136261, binary_to_list(B)),
    <<H:32>>.

ets_check(N) ->
    T = ets:new(workout, [set]),
    [ets:insert(T, {K, K * 2}) || K <- randoms(N)],
    Size = ets:info(T, size),
    Sum = ets:foldl(fun({_, V}, Acc) -> Acc + V end, 0, T),
    ets:delete(T),
    {Size, Sum rem 1000003}.

%% M processes in a ring pass a counter around R times.
ring(M, R) ->
    Self = self(),
    First = lists:foldl(fun(_, Next) -> spawn(fun() -> relay(Next) end) end, Self, lists:seq(1, M)),
    First ! {token, 0, M * R},
    wait(First).

relay(Next) ->
    receive
        {token, C, Left} -> Next ! {token, C + 1, Left}, relay(Next);
        stop -> Next ! stop
    end.

wait(First) ->
    receive
        {token, C, Left} when Left > 1 -> First ! {token, C, Left - 1}, wait(First);
        {token, C, _} -> First ! stop, receive stop -> C end
    end.

exceptions(N) ->
    lists:foldl(fun(I, Acc) ->
                        try
                            case I rem 3 of
                                0 -> throw(I);
                                1 -> error({bad, I});
                                2 -> 1 div (I - I)
                            end
                        catch
                            throw:V -> Acc + V;
                            error:{bad, V} -> Acc + 2 * V;
                            error:badarith -> Acc + 1
                        end
                end, 0, lists:seq(1, N)).

funs(N) ->
    Adders = [fun(X) -> X + K end || K <- lists:seq(1, 10)],
    lists:foldl(fun(I, Acc) -> F = lists:nth(I rem 10 + 1, Adders), F(Acc) rem 1000003 + I end,
                0, lists:seq(1, N)).
