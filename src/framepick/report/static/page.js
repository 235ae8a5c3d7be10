(function(){
  function data(id){var el=document.getElementById(id);return el?JSON.parse(el.textContent):null;}
  var P=data('fp-points')||[], T=data('fp-thumbs')||{}, S=data('fp-sources')||[];
  document.querySelectorAll('img[data-k]').forEach(function(im){if(!(im.dataset.k in T))T[im.dataset.k]=im.src;});
  var tip=document.getElementById('fp-tip'), wrap=document.getElementById('fp-map-wrap');
  function hide(){if(tip)tip.style.display='none';}
  function show(ev){
    var t=ev.target;
    if(!t||!t.dataset||t.dataset.i===undefined){hide();return;}
    var p=P[+t.dataset.i]; if(!p)return;
    tip.textContent='';
    if(p[1]&&T[p[1]]){var im=document.createElement('img');im.src=T[p[1]];im.alt='';tip.appendChild(im);}
    var b=document.createElement('b');b.textContent=p[0];tip.appendChild(b);
    var d=document.createElement('div');d.className='muted';
    d.textContent=(S[p[3]]||'')+(p[2]?' \u00b7 selected #'+p[2]:' \u00b7 not selected')
      +(p[1]&&T[p[1]]?'':' \u00b7 no thumbnail');
    tip.appendChild(d);
    var r=wrap.getBoundingClientRect();
    tip.style.left=(ev.clientX-r.left+14)+'px'; tip.style.top=(ev.clientY-r.top+14)+'px';
    tip.style.display='block';
  }
  document.querySelectorAll('svg.map').forEach(function(svg){
    svg.addEventListener('mousemove',show); svg.addEventListener('mouseleave',hide);
  });
  document.querySelectorAll('.tabs button').forEach(function(btn){
    btn.addEventListener('click',function(){
      document.querySelectorAll('.tabs button').forEach(function(o){o.classList.toggle('on',o===btn);});
      document.querySelectorAll('svg.map').forEach(function(svg){svg.style.display=(svg.id==='map-'+btn.dataset.p)?'':'none';});
    });
  });
  document.querySelectorAll('[data-point]').forEach(function(el){
    function mark(on){
      var sel='svg.map circle[data-i="'+el.dataset.point+'"]';
      document.querySelectorAll(sel).forEach(function(c){c.classList.toggle('hl',on);});
    }
    el.addEventListener('mouseenter',function(){mark(true);});
    el.addEventListener('mouseleave',function(){mark(false);});
  });
  document.querySelectorAll('.strip[data-rank]').forEach(function(el){
    function mark(on){
      var sel='svg.fmap g[data-rank="'+el.dataset.rank+'"]';
      document.querySelectorAll(sel).forEach(function(g){g.classList.toggle('hl',on);});
    }
    el.addEventListener('mouseenter',function(){mark(true);});
    el.addEventListener('mouseleave',function(){mark(false);});
  });
})();
