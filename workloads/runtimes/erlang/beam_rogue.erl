%% The Erlang side of examples/beam_rogue_nif.c: store/0 is the NIF, loaded
%% from the path in $BEAM_ROGUE_NIF (without the .so) when the module loads.
-module(beam_rogue).
-export([store/0]).
-on_load(init/0).

init() -> erlang:load_nif(os:getenv("BEAM_ROGUE_NIF"), 0).

store() -> erlang:nif_error(not_loaded).
