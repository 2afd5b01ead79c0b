// What an axios client gets from a json-server-style API with its default parameter
// serialisation (arrays as `id[]=1&id[]=3`), `_embed` and `_expand`: printed as one JSON line
// for tests/it/json_server.rs to compare with what json-server 0.17 answers.
import axios from 'axios';

const api = axios.create({ baseURL: process.argv[2] });
const out = {};
out.url = api.getUri({ url: '/posts', params: { id: [1, 3] } });
out.ids = (await api.get('/posts', { params: { id: [1, 3] } })).data.map((p) => p.id);
out.embedded = (await api.get('/posts/1', { params: { _embed: 'comments' } })).data;
out.expanded = (await api.get('/comments', { params: { _expand: 'post', postId: 2 } })).data;
out.both = (await api.get('/posts', { params: { _embed: 'comments', _expand: 'user', id: 2 } })).data;
try {
  await api.get('/posts', { params: { _sortt: 'title' } });
  out.mistake = 'no error';
} catch (e) {
  out.mistake = { status: e.response.status, error: e.response.data.error };
}
console.log(JSON.stringify(out));
